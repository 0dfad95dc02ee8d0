"""`/cep/notification-policies`: CRUD, versions, 409s, 422s naming fields, channels, isolation, the tester, the KV
mirror, and the tester's `line` against the real `amtool config routes test`."""

from __future__ import annotations

import asyncio
import copy
import uuid
from pathlib import Path
from typing import Any

import nats
import pytest
import yaml
from fastapi.testclient import TestClient
from nats.js.errors import KeyNotFoundError

from services.common.messages import codec
from services.common.nats import subjects
from services.gateway.app import create_app
from tests.gateway.conftest import is_problem, mint, settings_for
from tests.support.alertmanager import missing_binaries, routes_test
from tests.support.nats import NatsServer

BASE = "/cep/notification-policies"
HOOK = {"type": "webhook", "config": {"url": "http://127.0.0.1:9/hook"}}
POLICY: dict[str, Any] = {
    "route": {
        "receiver": "ops",
        "group_by": ["alertname"],
        "routes": [
            {"matchers": ['team="db"'], "receiver": "db", "continue": True, "mute_time_intervals": ["weekends"]},
            {"match": {"severity": "page"}, "receiver": "pager", "group_wait": "10s", "group_by": ["..."]},
            {
                "match_re": {"service": "api|web"},
                "receiver": "ops",
                "routes": [{"receiver": "db", "matchers": ["env!=prod"]}],
            },
        ],
    },
    "receivers": [
        {"name": "ops", "channels": ["ops-hook"]},
        {"name": "db", "channels": ["db-hook", "ops-hook"]},
        {"name": "pager", "channels": []},
    ],
    "time_intervals": [{"name": "weekends", "time_intervals": [{"weekdays": ["saturday", "sunday"]}]}],
}
SATURDAY, MONDAY = "2026-12-05T12:00:00Z", "2026-12-07T12:00:00Z"


def _tenant() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def _setup(client: TestClient) -> tuple[dict[str, str], dict[str, str]]:
    """A tenant with the channels POLICY names: its viewer's and editor's headers."""
    tenant = _tenant()
    viewer, editor = mint(client, tenant, "viewer"), mint(client, tenant, "editor")
    for name in ("ops-hook", "db-hook"):
        assert client.post("/cep/channels", headers=editor, json={**HOOK, "name": name}).status_code == 201
    return viewer, editor


def _errors(response: Any) -> dict[str, str]:
    body = is_problem(response, 422)
    return {".".join(str(part) for part in error["loc"]): error["msg"] for error in body["errors"]}


def _kv(server: NatsServer, key: str) -> Any:
    async def read() -> Any:
        nc = await nats.connect(server.url)
        try:
            kv = await nc.jetstream().key_value(subjects.NOTIFICATION_POLICIES_BUCKET)
            return codec.loads((await kv.get(key)).value or b"null")
        except KeyNotFoundError:
            return None
        finally:
            await nc.close()

    return asyncio.run(read())


def test_crud_versions_and_the_kv_mirror(any_client: TestClient, nats_server: NatsServer) -> None:
    client = any_client
    viewer, editor = _setup(client)
    tenant = client.get("/cep/auth/whoami", headers=viewer).json()["tenant"]
    assert is_problem(client.get(BASE, headers=viewer), 404)["type"].endswith("not-found")
    is_problem(client.put(BASE, headers=viewer, json=POLICY), 403)

    created = client.put(BASE, headers=editor, json={**POLICY, "version": 0})
    assert created.status_code == 200, created.text
    assert created.json()["version"] == 1 and created.json()["route"] == POLICY["route"]
    got = client.get(BASE, headers=viewer)
    assert got.json()["receivers"] == POLICY["receivers"] and got.headers["etag"] == '"1"'
    assert _kv(nats_server, tenant) == {"tenant": tenant, "version": 1, "policy": {**POLICY}}

    changed = copy.deepcopy(POLICY)
    changed["route"]["group_wait"] = "1m"
    stale = client.put(BASE, headers=editor, json={**changed, "version": 0})
    assert is_problem(stale, 409)["type"].endswith("stale-version")
    replaced = client.put(BASE, headers={**editor, "If-Match": '"1"'}, json=changed)
    assert replaced.status_code == 200 and replaced.json()["version"] == 2
    assert client.put(BASE, headers=editor, json=changed).json()["version"] == 2  # the same document: no new version

    is_problem(client.request("DELETE", BASE, headers={**editor, "If-Match": '"1"'}), 409)
    assert client.delete(BASE, headers=editor).status_code == 204
    is_problem(client.get(BASE, headers=viewer), 404)
    is_problem(client.delete(BASE, headers=editor), 404)
    assert _kv(nats_server, tenant) is None

    versions = client.get(f"{BASE}/versions", headers=viewer).json()
    assert [(v["version"], v["change"]) for v in versions["items"]] == [(3, "deleted"), (2, "replaced"), (1, "created")]
    assert versions["items"][0]["policy"] is None and versions["items"][1]["policy"]["route"]["group_wait"] == "1m"
    again = client.put(BASE, headers=editor, json={**POLICY, "version": 0})  # after a delete, 0 means "none"
    assert again.status_code == 200 and again.json()["version"] == 4

    audit = client.get("/cep/audit", headers=mint(client, tenant, "admin")).json()["items"]
    mine = [(a["action"], a["change"]["version"]) for a in audit if a["resource"] == "notification_policy"]
    assert ("deleted", {"before": 2, "after": 3}) in mine and ("replaced", {"before": 1, "after": 2}) in mine
    replaced_entry = next(a for a in audit if a["action"] == "replaced")
    assert replaced_entry["change"]["policy.route.group_wait"] == {"before": None, "after": "1m"}


def test_invalid_documents_are_422_naming_the_field(client: TestClient) -> None:
    _, editor = _setup(client)
    bad = copy.deepcopy(POLICY)
    bad["route"]["routes"][0]["receiver"] = "nobody"
    bad["route"]["routes"][1]["group_wait"] = "soon"
    bad["route"]["routes"][2]["matchers"] = ['a=~"("']
    bad["route"]["routes"][0]["mute_time_intervals"] = ["holidays"]
    bad["receivers"][1]["channels"] = ["db-hook", 7]
    bad["time_intervals"][0]["time_intervals"][0]["weekdays"] = ["funday"]
    errors = _errors(client.put(BASE, headers=editor, json=bad))
    assert set(errors) == {
        "route.routes.0.receiver",
        "route.routes.1.group_wait",
        "route.routes.2.matchers.0",
        "route.routes.0.mute_time_intervals.0",
        "receivers.1.channels.1",
        "time_intervals.0.time_intervals.0",
    }
    assert "nobody" in errors["route.routes.0.receiver"] and "funday" in errors["time_intervals.0.time_intervals.0"]
    assert set(_errors(client.put(BASE, headers=editor, json={**POLICY, "inhibit_rules": []}))) == {"inhibit_rules"}
    root = _errors(client.put(BASE, headers=editor, json={**POLICY, "route": {"receiver": "ops", "continue": True}}))
    assert root == {"route.continue": "cannot have continue in root route"}
    assert set(_errors(client.put(BASE, headers=editor, json={"receivers": []}))) == {"route"}
    unknown = copy.deepcopy(POLICY)
    unknown["receivers"][1]["channels"] = ["db-hook", "no-such-channel"]
    assert set(_errors(client.put(BASE, headers=editor, json=unknown))) == {"receivers.1.channels.1"}
    assert set(_errors(client.put(BASE, headers=editor, json={**POLICY, "version": "1"}))) == {"version"}


def test_limits_have_settings(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, policy_max_depth=2, policy_max_routes=5, policy_max_receivers=3)
    with TestClient(create_app(settings.model_copy(update={"policy_max_bytes": 2048}))) as client:
        _, editor = _setup(client)
        deep = {"receiver": "ops", "routes": [{"routes": [{"routes": [{"receiver": "ops"}]}]}]}
        body = {**POLICY, "route": deep}
        assert (
            "CEP_POLICY_MAX_DEPTH"
            in _errors(client.put(BASE, headers=editor, json=body))["route.routes.0.routes.0.routes"]
        )
        wide = {"receiver": "ops", "routes": [{"receiver": "ops"}] * 5}
        assert (
            "CEP_POLICY_MAX_ROUTES"
            in _errors(client.put(BASE, headers=editor, json={**POLICY, "route": wide}))["route"]
        )
        many = [*POLICY["receivers"], {"name": "x", "channels": []}]
        assert (
            "CEP_POLICY_MAX_RECEIVERS"
            in _errors(client.put(BASE, headers=editor, json={**POLICY, "receivers": many}))["receivers"]
        )
        big = {**POLICY, "route": {"receiver": "ops", "group_by": ["a" * 3000]}}
        assert "CEP_POLICY_MAX_BYTES" in _errors(client.put(BASE, headers=editor, json=big))[""]
        assert client.put(BASE, headers=editor, json=POLICY).status_code == 200  # within every limit


def test_the_tester_against_the_stored_policy_and_a_draft(client: TestClient) -> None:
    viewer, editor = _setup(client)
    is_problem(client.post(f"{BASE}/test", headers=viewer, json={"labels": {"team": "db"}}), 404)
    assert client.put(BASE, headers=editor, json=POLICY).status_code == 200
    labels = {"team": "db", "severity": "page", "alertname": "Disk"}
    saturday = client.post(f"{BASE}/test", headers=viewer, json={"labels": labels, "at": SATURDAY}).json()
    assert saturday["receivers"] == ["db", "pager"] and saturday["line"] == "db,pager" and saturday["version"] == 1
    db, pager = saturday["routes"]
    assert (
        db["path"] == [0] and db["channels"] == ["db-hook", "ops-hook"] and db["group_labels"] == {"alertname": "Disk"}
    )
    assert db["muted_at"] is True and "weekends" in db["muted_reason"] and db["mute_time_intervals"] == ["weekends"]
    assert pager["group_by"] == ["..."] and pager["group_labels"] == labels and pager["group_wait"] == "10s"
    assert (pager["group_interval"], pager["repeat_interval"], pager["muted_at"]) == ("5m", "4h", False)
    monday = client.post(f"{BASE}/test", headers=viewer, json={"labels": labels, "at": MONDAY}).json()
    assert monday["routes"][0]["muted_at"] is False
    nested = client.post(f"{BASE}/test", headers=viewer, json={"labels": {"service": "web", "env": "dev"}}).json()
    assert nested["line"] == "db" and nested["routes"][0]["path"] == [2, 0]
    assert client.post(f"{BASE}/test", headers=viewer, json={"labels": {}}).json()["line"] == "ops"

    draft = {"route": {"receiver": "pager"}, "receivers": [{"name": "pager"}]}
    tried = client.post(f"{BASE}/test", headers=viewer, json={"labels": labels, "policy": draft}).json()
    assert tried["line"] == "pager" and tried["version"] is None and tried["routes"][0]["channels"] == []
    bad_draft = {"route": {"receiver": "gone"}, "receivers": [{"name": "pager", "channels": ["nope"]}]}
    errors = _errors(client.post(f"{BASE}/test", headers=viewer, json={"labels": labels, "policy": bad_draft}))
    assert set(errors) == {"policy.route.receiver"}
    errors = _errors(
        client.post(
            f"{BASE}/test",
            headers=viewer,
            json={"labels": labels, "policy": {**draft, "receivers": [{"name": "pager", "channels": ["nope"]}]}},
        )
    )
    assert set(errors) == {"policy.receivers.0.channels.0"}
    assert set(_errors(client.post(f"{BASE}/test", headers=viewer, json={"labels": {"bad-name": "x"}}))) == {
        "labels.bad-name"
    }
    assert set(_errors(client.post(f"{BASE}/test", headers=viewer, json={"labels": {"a": 1}}))) == {"labels.a"}
    assert set(_errors(client.post(f"{BASE}/test", headers=viewer, json={"labels": {}, "at": "soon"}))) == {"at"}


def test_tenants_never_see_or_name_each_other(client: TestClient) -> None:
    viewer_a, editor_a = _setup(client)
    viewer_b, editor_b = mint(client, _tenant(), "viewer"), mint(client, _tenant(), "editor")
    assert client.put(BASE, headers=editor_a, json=POLICY).status_code == 200
    is_problem(client.get(BASE, headers=viewer_b), 404)
    assert client.get(f"{BASE}/versions", headers=viewer_b).json()["total"] == 0
    is_problem(client.post(f"{BASE}/test", headers=viewer_b, json={"labels": {"team": "db"}}), 404)
    is_problem(client.delete(BASE, headers=editor_b), 404)
    # Tenant A's channels do not exist for tenant B, by name or by id.
    channel_id = client.get("/cep/channels", headers=viewer_a).json()["items"][0]["channel_id"]
    for ref in ("ops-hook", channel_id):
        body = {"route": {"receiver": "r"}, "receivers": [{"name": "r", "channels": [ref]}]}
        assert set(_errors(client.put(BASE, headers=editor_b, json=body))) == {"receivers.0.channels.0"}
    assert client.get(BASE, headers=viewer_a).json()["version"] == 1


@pytest.mark.skipif(missing_binaries() is not None, reason=str(missing_binaries()))
def test_the_line_is_amtools(client: TestClient, tmp_path: Path) -> None:
    viewer, editor = _setup(client)
    assert client.put(BASE, headers=editor, json=POLICY).status_code == 200
    config = {**POLICY, "receivers": [{"name": r["name"]} for r in POLICY["receivers"]]}
    path = tmp_path / "am.yml"
    path.write_text(yaml.safe_dump(config))
    label_sets = [
        {"team": "db", "severity": "page"},
        {"service": "api", "env": "prod"},
        {"service": "web", "env": "dev", "team": "db"},
        {"severity": "warning"},
        {"team": "dbx", "service": "apiweb"},
    ]
    for labels in label_sets:
        ours = client.post(f"{BASE}/test", headers=viewer, json={"labels": labels}).json()["line"]
        assert ours == routes_test(path, [f'{name}="{value}"' for name, value in labels.items()]), labels
