"""Metric-polling routes: CRUD, validation naming fields, roles, isolation, audit, the KV mirror, snapshots, OpenAPI."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import nats
import pytest
from fastapi.testclient import TestClient
from nats.js.errors import KeyNotFoundError

from services.common.domain.schedules.polling import parse_target
from services.common.egress import guarded_client
from services.common.messages import codec
from services.common.nats import subjects
from services.scheduler.poll_targets import PollTarget, PollTargets
from services.scheduler.poller import Poller
from services.scheduler.settings import SchedulerSettings
from tests.gateway.conftest import is_problem, mint
from tests.support.nats import NatsServer

BASE = "/cep/scheduler/metric-polling"


def _tenant() -> str:
    return f"p-{uuid.uuid4().hex[:10]}"


def _body(nats_server: NatsServer, **extra: Any) -> dict[str, Any]:
    return {
        "name": "nats-varz",
        "url": f"{nats_server.monitor_url}/varz",
        "interval": "10s",
        "metrics": [{"name": "nats_mem", "path": "mem"}],
        **extra,
    }


def _create(client: TestClient, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(BASE, headers=headers, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _mirrored(server: NatsServer, bucket: str, key: str) -> dict[str, Any] | None:
    async def read() -> dict[str, Any] | None:
        nc = await nats.connect(server.url)
        try:
            kv = await nc.jetstream().key_value(bucket)
            return dict(codec.loads((await kv.get(key)).value or b"null"))
        except KeyNotFoundError:
            return None
        finally:
            await nc.close()

    return asyncio.run(read())


def _poll(server: NatsServer, tenant: str, target: dict[str, Any]) -> dict[str, Any]:
    """Poll the target once with the scheduler's own Poller, as the leader would (its snapshot lands in KV)."""

    async def once() -> dict[str, Any]:
        nc = await nats.connect(server.url)
        try:
            js = nc.jetstream()
            kv = await js.key_value(subjects.POLLING_SNAPSHOTS_BUCKET)
            poller = Poller(nc, js, kv, PollTargets(), SchedulerSettings(scheduler_instance="routes-test"))
            item = PollTarget(tenant, target["target_id"], target["version"], parse_target(target))
            async with guarded_client(poller.settings.egress_policy) as http:
                return await poller.poll(http, item)
        finally:
            await nc.close()

    return asyncio.run(once())


def test_crud_with_versions_mirror_and_audit(any_client: TestClient, nats_server: NatsServer) -> None:
    tenant = _tenant()
    editor, admin = mint(any_client, tenant, "editor"), mint(any_client, tenant, "admin")
    created = any_client.post(BASE, headers=editor, json=_body(nats_server, labels={"env": "lab"}))
    assert created.status_code == 201, created.text
    target = created.json()
    url = f"{BASE}/{target['target_id']}"
    assert created.headers["Location"] == url and created.headers["ETag"] == '"1"'
    assert target | {"target_id": "x", "created_at": "x", "updated_at": "x"} == {
        "target_id": "x",
        "tenant": tenant,
        "name": "nats-varz",
        "url": f"{nats_server.monitor_url}/varz",
        "interval": "10s",
        "timeout": "5s",
        "format": "json",
        "metrics": [{"name": "nats_mem", "path": "mem"}],
        "labels": {"env": "lab"},
        "active": True,
        "version": 1,
        "created_at": "x",
        "updated_at": "x",
        "last_poll_at": None,
        "last_status": None,
        "last_error": None,
    }
    assert any_client.get(url, headers=editor).json() == target
    assert any_client.get(BASE, headers=editor).json() == {"items": [target], "total": 1, "next_cursor": None}
    key = subjects.polling_key(tenant, target["target_id"])
    mirrored = _mirrored(nats_server, subjects.POLLING_BUCKET, key)
    assert mirrored is not None and mirrored["version"] == 1 and mirrored["url"] == target["url"]

    # A GET round trip changes nothing; a change makes a new version; a stale version is 409.
    assert any_client.put(url, headers=editor, json=target).json()["version"] == 1
    changed = any_client.put(url, headers=editor, json={**target, "interval": "1m", "active": False})
    assert changed.status_code == 200 and changed.json()["version"] == 2 and changed.json()["active"] is False
    assert _mirrored(nats_server, subjects.POLLING_BUCKET, key)["active"] is False  # type: ignore[index]
    stale = any_client.put(url, headers={**editor, "If-Match": '"1"'}, json=target)
    assert is_problem(stale, 409)["errors"][0]["loc"] == ["version"]

    assert any_client.delete(url, headers=editor).status_code == 204
    is_problem(any_client.get(url, headers=editor), 404)
    is_problem(any_client.delete(url, headers=editor), 404)
    assert _mirrored(nats_server, subjects.POLLING_BUCKET, key) is None
    _create(any_client, editor, _body(nats_server))  # the name is free again

    audit = any_client.get("/cep/audit", params={"resource": "polling_target"}, headers=admin).json()["items"]
    assert [e["action"] for e in audit if e["resource_id"] == target["target_id"]] == ["deleted", "replaced", "created"]
    replaced = next(e for e in audit if e["action"] == "replaced")
    assert replaced["change"]["interval"] == {"before": "10s", "after": "1m"}


def test_names_are_unique_per_tenant(client: TestClient, nats_server: NatsServer) -> None:
    editor = mint(client, _tenant(), "editor")
    _create(client, editor, _body(nats_server))
    assert is_problem(client.post(BASE, headers=editor, json=_body(nats_server)), 409)["errors"][0]["loc"] == ["name"]
    other = _create(client, editor, _body(nats_server, name="other"))
    renamed = client.put(f"{BASE}/{other['target_id']}", headers=editor, json=_body(nats_server))
    assert is_problem(renamed, 409)["errors"][0]["loc"] == ["name"]
    _create(client, mint(client, _tenant(), "editor"), _body(nats_server))  # same name, other tenant: fine


@pytest.mark.parametrize(
    ("extra", "loc"),
    [
        ({"interval": "100ms"}, ["interval"]),
        ({"interval": "10s", "timeout": "30s"}, ["timeout"]),
        ({"url": "file:///etc/passwd"}, ["url"]),
        ({"format": "xml"}, ["format"]),
        ({"metrics": [{"name": "m", "path": "a..b"}]}, ["metrics", 0, "path"]),
        ({"metrics": []}, ["metrics"]),
        ({"labels": {"value": 1}}, ["labels", "value"]),
        ({"active": "yes"}, ["active"]),
        ({"colour": "red"}, ["colour"]),
    ],
)
def test_invalid_bodies_are_422_naming_the_field(
    client: TestClient, nats_server: NatsServer, extra: dict[str, Any], loc: list[Any]
) -> None:
    editor = mint(client, _tenant(), "editor")
    problem = is_problem(client.post(BASE, headers=editor, json=_body(nats_server, **extra)), 422)
    assert loc in [e["loc"] for e in problem["errors"]]


def test_malformed_json_is_400(client: TestClient) -> None:
    is_problem(client.post(BASE, headers=mint(client, _tenant(), "editor"), content=b"{nope"), 400)


def test_viewers_read_editors_write_other_tenants_get_404(client: TestClient, nats_server: NatsServer) -> None:
    owner = _tenant()
    editor, viewer = mint(client, owner, "editor"), mint(client, owner, "viewer")
    target = _create(client, editor, _body(nats_server))
    url = f"{BASE}/{target['target_id']}"
    assert client.get(url, headers=viewer).status_code == 200
    assert client.get(BASE, headers=viewer).json()["total"] == 1
    is_problem(client.post(BASE, headers=viewer, json=_body(nats_server, name="x")), 403)
    is_problem(client.put(url, headers=viewer, json=target), 403)
    is_problem(client.delete(url, headers=viewer), 403)
    is_problem(client.get(BASE), 401)

    stranger = mint(client, _tenant(), "editor")
    is_problem(client.get(url, headers=stranger), 404)
    is_problem(client.put(url, headers=stranger, json=target), 404)
    is_problem(client.delete(url, headers=stranger), 404)
    is_problem(client.get(f"{BASE}/snapshots/latest", params={"target_id": target["target_id"]}, headers=stranger), 404)
    is_problem(client.get(f"{BASE}/not a valid id!", headers=stranger), 404)
    assert client.get(BASE, headers=stranger).json()["total"] == 0
    assert client.get(url, headers=editor).status_code == 200  # untouched


def test_snapshots_and_last_error_come_from_the_leaders_polls(client: TestClient, nats_server: NatsServer) -> None:
    tenant = _tenant()
    editor = mint(client, tenant, "editor")
    good = _create(client, editor, _body(nats_server))
    broken = _create(client, editor, _body(nats_server, name="broken", url=f"{nats_server.monitor_url}/nope"))
    never = _create(client, editor, _body(nats_server, name="never-polled"))

    _poll(nats_server, tenant, good)
    _poll(nats_server, tenant, broken)

    latest = client.get(f"{BASE}/snapshots/latest", headers=editor).json()
    assert latest["total"] == 3
    by_name = {s["name"]: s for s in latest["items"]}
    assert by_name["nats-varz"]["ok"] is True and by_name["nats-varz"]["values"]["nats_mem"] > 1_000_000
    assert by_name["nats-varz"]["status_code"] == 200 and by_name["nats-varz"]["latency_ms"] > 0
    assert by_name["broken"]["ok"] is False and by_name["broken"]["error"] == {"kind": "http", "detail": "HTTP 404"}
    assert by_name["never-polled"]["at"] is None and by_name["never-polled"]["samples"] == 0
    one = client.get(f"{BASE}/snapshots/latest", params={"target_id": good["target_id"]}, headers=editor).json()
    assert [s["target_id"] for s in one["items"]] == [good["target_id"]]

    listed = {t["name"]: t for t in client.get(BASE, headers=editor).json()["items"]}
    assert listed["nats-varz"]["last_status"] == "ok" and listed["nats-varz"]["last_error"] is None
    assert listed["broken"]["last_status"] == "error" and listed["broken"]["last_error"]["kind"] == "http"
    assert listed["broken"]["last_poll_at"] == by_name["broken"]["at"]
    assert listed["never-polled"]["last_status"] is None and never["target_id"] in {
        t["target_id"] for t in listed.values()
    }

    # Deleting a target drops its snapshot too.
    assert client.delete(f"{BASE}/{broken['target_id']}", headers=editor).status_code == 204
    key = subjects.polling_key(tenant, broken["target_id"])
    assert _mirrored(nats_server, subjects.POLLING_SNAPSHOTS_BUCKET, key) is None


def test_the_routes_are_in_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths[BASE]) >= {"get", "post"}
    assert set(paths[f"{BASE}/{{target_id}}"]) >= {"get", "put", "delete"}
    assert "get" in paths[f"{BASE}/snapshots/latest"]
    assert "requestBody" in paths[BASE]["post"] and "requestBody" in paths[f"{BASE}/{{target_id}}"]["put"]
