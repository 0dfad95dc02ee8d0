"""Channels: CRUD, write-only secrets, validation, roles, isolation, audit, the KV mirror, tests and status."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

import nats
import pytest
from fastapi.testclient import TestClient
from nats.js.errors import KeyNotFoundError

from services.common.messages.channels import ChannelEntry
from services.common.nats import subjects
from services.gateway.app import create_app
from tests.gateway.conftest import is_problem, mint, settings_for
from tests.notifier.running import RunningNotifier, running_notifier, transition
from tests.support.nats import NatsServer
from tests.support.receiver import receiver

TOKEN = "tok-Very-Secret-4711"
PASSWORD = "pw-Very-Secret-0815"
HOOK = {"name": "ops-hook", "type": "webhook", "config": {"url": "http://127.0.0.1:9/hook", "auth_token": TOKEN}}


def _tenant() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def _create(client: TestClient, headers: dict[str, str], body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = client.post("/cep/channels", headers=headers, json=body or HOOK)
    assert response.status_code == 201, response.text
    return response.json()


def _kv(server: NatsServer, key: str) -> bytes | None:
    async def read() -> bytes | None:
        nc = await nats.connect(server.url)
        try:
            kv = await nc.jetstream().key_value(subjects.CHANNELS_BUCKET)
            return (await kv.get(key)).value
        except KeyNotFoundError:
            return None
        finally:
            await nc.close()

    return asyncio.run(read())


@pytest.fixture
def notifier() -> Iterator[RunningNotifier]:
    with running_notifier() as running:
        yield running


def test_crud_with_write_only_secrets(any_client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)  # at DEBUG, aiosqlite logs statement parameters (see the report)
    editor = mint(any_client, _tenant(), "editor")
    created = any_client.post("/cep/channels", headers=editor, json=HOOK)
    assert created.status_code == 201 and TOKEN not in created.text
    channel = created.json()
    url = f"/cep/channels/{channel['channel_id']}"
    assert created.headers["Location"] == url
    assert channel["config"] == {"url": "http://127.0.0.1:9/hook", "method": "POST", "headers": {}, "timeout": "10s"}
    assert channel["secrets_set"] == ["auth_token"] and channel["version"] == 1 and channel["type"] == "webhook"
    assert any_client.get(url, headers=editor).json() == channel
    listed = any_client.get("/cep/channels", headers=editor)
    assert listed.json() == {"items": [channel], "total": 1, "next_cursor": None} and TOKEN not in listed.text

    # A PUT without the secret keeps it; a changed field makes a new version.
    kept = any_client.put(url, headers=editor, json={**HOOK, "config": {"url": "http://127.0.0.1:9/v2"}}).json()
    assert kept["secrets_set"] == ["auth_token"] and kept["version"] == 2 and kept["config"]["url"].endswith("/v2")
    # The same body again changes nothing; a GET round trip (read-only fields included) is accepted.
    assert any_client.put(url, headers=editor, json=kept).json()["version"] == 2
    basic = {"url": "http://127.0.0.1:9/v2", "auth_token": None, "basic_user": "bob", "basic_password": PASSWORD}
    switched = any_client.put(url, headers=editor, json={**HOOK, "config": basic})
    assert switched.status_code == 200 and PASSWORD not in switched.text
    assert switched.json()["secrets_set"] == ["basic_password"] and switched.json()["config"]["basic_user"] == "bob"

    assert any_client.delete(url, headers=editor).status_code == 204
    is_problem(any_client.get(url, headers=editor), 404)
    is_problem(any_client.delete(url, headers=editor), 404)
    assert any_client.get("/cep/channels", headers=editor).json()["total"] == 0
    _create(any_client, editor)  # the name is free again
    assert TOKEN not in caplog.text and PASSWORD not in caplog.text


def test_names_are_unique_per_tenant(any_client: TestClient) -> None:
    editor = mint(any_client, _tenant(), "editor")
    _create(any_client, editor)
    body = is_problem(any_client.post("/cep/channels", headers=editor, json=HOOK), 409)
    assert body["errors"][0]["loc"] == ["name"]
    other = _create(any_client, editor, {**HOOK, "name": "other"})
    renamed = any_client.put(f"/cep/channels/{other['channel_id']}", headers=editor, json=HOOK)
    assert is_problem(renamed, 409)["errors"][0]["loc"] == ["name"]
    _create(any_client, mint(any_client, _tenant(), "editor"))  # same name, other tenant: fine


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({**HOOK, "config": {"auth_token": TOKEN}}, ["config", "url"]),
        ({**HOOK, "config": {"url": f"ftp://{TOKEN}@host/x", "auth_token": TOKEN}}, ["config", "url"]),
        ({**HOOK, "config": {"url": "http://h/x", "timeout": "2m"}}, ["config", "timeout"]),
        ({**HOOK, "config": {"url": "http://h/x", "method": "GET"}}, ["config", "method"]),
        ({**HOOK, "config": {"url": "http://h/x", "headers": {"Bad Name": "x"}}}, ["config", "headers"]),
        ({**HOOK, "config": {"url": "http://h/x", "auth_token": 4711}}, ["config", "auth_token"]),
        ({**HOOK, "config": {"url": "http://h/x", "basic_user": "bob"}}, ["config", "basic_password"]),
        ({**HOOK, "config": {"url": "http://h/x", "nope": TOKEN}}, ["config", "nope"]),
        ({**HOOK, "type": "carrier-pigeon"}, ["type"]),
        ({**HOOK, "name": " "}, ["name"]),
        ({**HOOK, "colour": "red"}, ["colour"]),
        ({"name": "mail", "type": "email", "config": {"host": "smtp", "from": "a@b", "to": "x"}}, ["config", "to"]),
        ({"name": "pd", "type": "pagerduty", "config": {}}, ["config", "routing_key"]),
    ],
)
def test_invalid_bodies_are_422_naming_the_field_and_never_echo_secrets(
    client: TestClient, body: dict[str, Any], loc: list[str]
) -> None:
    editor = mint(client, _tenant(), "editor")
    response = client.post("/cep/channels", headers=editor, json=body)
    problem = is_problem(response, 422)
    assert loc in [e["loc"] for e in problem["errors"]]
    assert TOKEN not in response.text


def test_malformed_json_is_400(client: TestClient) -> None:
    editor = mint(client, _tenant(), "editor")
    is_problem(client.post("/cep/channels", headers=editor, content=b"{nope"), 400)


def test_viewers_read_editors_write_other_tenants_get_404(any_client: TestClient) -> None:
    owner = _tenant()
    editor, viewer = mint(any_client, owner, "editor"), mint(any_client, owner, "viewer")
    channel = _create(any_client, editor)
    url = f"/cep/channels/{channel['channel_id']}"
    assert any_client.get(url, headers=viewer).status_code == 200
    is_problem(any_client.post("/cep/channels", headers=viewer, json={**HOOK, "name": "x"}), 403)
    is_problem(any_client.put(url, headers=viewer, json=HOOK), 403)
    is_problem(any_client.delete(url, headers=viewer), 403)
    is_problem(any_client.post("/cep/channels/test", headers=viewer, json={"channel": "ops-hook"}), 403)
    is_problem(any_client.get("/cep/channels"), 401)

    stranger = mint(any_client, _tenant(), "admin")
    for response in (
        any_client.get(url, headers=stranger),
        any_client.put(url, headers=stranger, json=HOOK),
        any_client.delete(url, headers=stranger),
        any_client.post("/cep/channels/test", headers=stranger, json={"channel": channel["channel_id"]}),
        any_client.get("/cep/channels/not-an-id", headers=stranger),
    ):
        is_problem(response, 404)
    assert any_client.get("/cep/channels", headers=stranger).json()["total"] == 0
    assert any_client.get("/cep/channels/status", headers=stranger).json()["items"] == []
    assert any_client.get(url, headers=editor).json() == channel


def test_a_stale_version_is_409(client: TestClient) -> None:
    editor = mint(client, _tenant(), "editor")
    channel = _create(client, editor)
    url = f"/cep/channels/{channel['channel_id']}"
    changed = {**HOOK, "config": {"url": "http://h/2"}}
    is_problem(client.put(url, headers={**editor, "If-Match": '"7"'}, json=changed), 409)
    assert client.put(url, headers=editor, json={**changed, "version": 1}).json()["version"] == 2
    is_problem(client.delete(url, headers={**editor, "If-Match": '"1"'}), 409)


def test_changes_are_audited_without_secret_values(client: TestClient) -> None:
    owner = _tenant()
    editor = mint(client, owner, "editor", name="ci-bot")
    channel = _create(client, editor)
    url = f"/cep/channels/{channel['channel_id']}"
    client.put(url, headers=editor, json={**HOOK, "config": {"url": "http://h/2", "auth_token": "tok-Other-Secret"}})
    client.delete(url, headers=editor)
    page = client.get("/cep/audit?resource=channel", headers=mint(client, owner, "admin"))
    entries = page.json()["items"]
    assert [e["action"] for e in entries] == ["deleted", "replaced", "created"]
    replaced = entries[1]["change"]
    assert replaced["config.url"] == {"before": "http://127.0.0.1:9/hook", "after": "http://h/2"}
    assert replaced["secrets_changed"] == ["auth_token"] and replaced["version"] == {"before": 1, "after": 2}
    assert entries[2]["change"]["after"]["secrets_set"] == ["auth_token"]
    assert TOKEN not in page.text and "tok-Other-Secret" not in page.text


def test_static_routes_come_before_the_channel_id(client: TestClient) -> None:
    viewer = mint(client, _tenant(), "viewer")
    types = client.get("/cep/channels/types", headers=viewer).json()
    by_type = {t["type"]: t for t in types["items"]}
    assert set(by_type) == {"webhook", "slack", "email", "pagerduty", "api_call"}
    assert all(t["deliverable"] for t in by_type.values())
    fields = {f["name"]: f for f in by_type["webhook"]["fields"]}
    assert fields["url"]["required"] and not fields["url"]["secret"]
    assert {n for n, f in fields.items() if f["secret"]} == {"auth_token", "basic_password", "secret", "headers"}
    assert fields["method"]["default"] == "POST" and fields["timeout"]["default"] == "10s"
    assert client.get("/cep/channels/status", headers=viewer).json()["items"] == []
    is_problem(client.post("/cep/channels/test", headers=mint(client, _tenant(), "editor"), json={"x": 1}), 422)


def test_every_change_is_mirrored_into_the_bucket_before_the_response(
    client: TestClient, nats_server: NatsServer
) -> None:
    owner = _tenant()
    editor = mint(client, owner, "editor")
    channel = _create(client, editor)
    key = subjects.channel_key(owner, channel["channel_id"])
    entry = ChannelEntry.decode(_kv(nats_server, key) or b"")
    assert entry.version == 1 and entry.name == "ops-hook"
    assert entry.config["auth_token"].startswith("enc:v1:")  # sealed: the notifier opens it (test_channel_secrets.py)
    assert TOKEN not in repr(entry) and TOKEN not in str(entry.config)
    assert _kv(nats_server, subjects.channel_name_key(owner, "ops-hook")) == channel["channel_id"].encode()

    url = f"/cep/channels/{channel['channel_id']}"
    client.put(url, headers=editor, json={**HOOK, "name": "renamed"})
    assert ChannelEntry.decode(_kv(nats_server, key) or b"").version == 2
    assert _kv(nats_server, subjects.channel_name_key(owner, "ops-hook")) is None
    assert _kv(nats_server, subjects.channel_name_key(owner, "renamed")) == channel["channel_id"].encode()

    client.delete(url, headers=editor)
    assert _kv(nats_server, key) is None and _kv(nats_server, subjects.channel_name_key(owner, "renamed")) is None


def test_the_bucket_is_reconciled_from_sql_at_start(tmp_path: Any, nats_server: NatsServer) -> None:
    owner = _tenant()
    with TestClient(create_app(settings_for(tmp_path))) as first:
        channel = _create(first, mint(first, owner, "editor"))
    key = subjects.channel_key(owner, channel["channel_id"])

    async def lose() -> None:
        nc = await nats.connect(nats_server.url)
        kv = await nc.jetstream().key_value(subjects.CHANNELS_BUCKET)
        await kv.delete(key)
        await kv.delete(subjects.channel_name_key(owner, "ops-hook"))
        await nc.close()

    asyncio.run(lose())
    with TestClient(create_app(settings_for(tmp_path))):
        for _ in range(100):
            if _kv(nats_server, key) is not None:
                break
            asyncio.run(asyncio.sleep(0.05))
    assert ChannelEntry.decode(_kv(nats_server, key) or b"").channel_id == channel["channel_id"]
    assert _kv(nats_server, subjects.channel_name_key(owner, "ops-hook")) == channel["channel_id"].encode()


def test_a_change_applies_to_the_next_delivery(client: TestClient, notifier: RunningNotifier) -> None:
    owner = _tenant()
    editor = mint(client, owner, "editor")
    action = [{"type": "notify", "channel": "ops-hook", "message": "{{ rule_name }}"}]
    with receiver() as first, receiver() as second:
        channel = _create(client, editor, {**HOOK, "config": {"url": first.url, "auth_token": TOKEN}})
        results = notifier.watch(owner)
        notifier.publish_alert(transition(owner), action)
        notifier.wait_results(owner, final=1)
        assert len(first.requests) == 1 and first.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"

        url = f"/cep/channels/{channel['channel_id']}"
        client.put(url, headers=editor, json={**HOOK, "config": {"url": second.url}})
        notifier.publish_alert(transition(owner), action)  # right after the response: no sleep
        notifier.wait_results(owner, final=2)
        assert len(first.requests) == 1 and len(second.requests) == 1
        assert second.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"  # the kept secret

        # The gateway's recorder folds the results into the events; the status counts them per channel.
        status = {}
        for _ in range(200):
            # The test transitions fired on 2025-05-01 (event time): count from before that.
            status = client.get("/cep/channels/status?since=2025-01-01T00:00:00Z", headers=editor).json()["items"][0]
            if status["sent"] == 2:
                break
            time.sleep(0.05)
        assert (status["sent"], status["failed"], status["failure_rate"]) == (2, 0, 0.0)

        client.delete(url, headers=editor)
        notifier.publish_alert(transition(owner), action)
        notifier.wait_results(owner, final=3)
    assert [(r.status, r.error_kind) for r in results] == [("sent", None), ("sent", None), ("failed", "config")]
    assert all(TOKEN not in str(r.as_dict()) for r in results)


def test_channel_tests_run_in_the_notifier_and_are_recorded(client: TestClient, notifier: RunningNotifier) -> None:
    editor = mint(client, _tenant(), "editor")
    with receiver() as ok_hook, receiver(answer=lambda n: 401) as auth_hook:
        channel = _create(client, editor, {**HOOK, "config": {"url": ok_hook.url, "auth_token": TOKEN}})
        passed = client.post("/cep/channels/test", headers=editor, json={"channel": "ops-hook"}).json()
        assert passed["ok"] is True and passed["status_code"] == 200 and passed["error"] is None
        assert ok_hook.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"
        assert ok_hook.requests[0].json()["status"] == "test"

        draft = {"type": "webhook", "config": {"url": auth_hook.url}}
        failed = client.post("/cep/channels/test", headers=editor, json=draft)
        assert failed.status_code == 200
        assert failed.json()["ok"] is False and failed.json()["error"]["kind"] == "auth"
        assert failed.json()["status_code"] == 401

        bad = {"channel": channel["channel_id"], "message": "{{ nope }}"}
        templated = client.post("/cep/channels/test", headers=editor, json=bad).json()
        assert templated["ok"] is False and templated["error"]["kind"] == "template"
        assert len(ok_hook.requests) == 1  # a template error is found before anything is sent

    refused = client.post(
        "/cep/channels/test", headers=editor, json={"type": "webhook", "config": {"url": ok_hook.url}}
    )
    assert refused.json()["error"]["kind"] == "network"
    is_problem(client.post("/cep/channels/test", headers=editor, json={"type": "webhook", "config": {}}), 422)

    [status] = client.get("/cep/channels/status", headers=editor).json()["items"]
    assert status["channel_id"] == channel["channel_id"] and status["name"] == "ops-hook"
    assert status["last_test"]["ok"] is False and status["last_test"]["error"]["kind"] == "template"
    assert status["sent"] == 0 and status["failed"] == 0 and status["failure_rate"] is None


def test_a_channel_test_without_a_notifier_is_503(client: TestClient) -> None:
    editor = mint(client, _tenant(), "editor")
    response = client.post(
        "/cep/channels/test", headers=editor, json={"type": "webhook", "config": {"url": "http://h/"}}
    )
    is_problem(response, 503)
