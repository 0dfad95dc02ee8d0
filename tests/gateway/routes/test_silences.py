"""Silence routes: create, states, Alertmanager's edit rules, expiry, recurring silences, 422s naming fields, roles,
tenant isolation, the audit log, the KV mirror and the preview over open events."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
from fastapi.testclient import TestClient
from nats.js.errors import KeyNotFoundError

from services.common.messages import codec
from services.common.nats import subjects
from services.gateway.app import create_app
from services.gateway.recorders.event_record import open_event
from services.gateway.state import state_of
from tests.gateway.conftest import is_problem, mint, settings_for
from tests.gateway.live_gateway import Episode
from tests.support.nats import NatsServer

BASE = "/cep/silences"


def _tenant() -> str:
    return f"s-{uuid.uuid4().hex[:10]}"


def _at(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat().replace("+00:00", "Z")


def _body(**extra: Any) -> dict[str, Any]:
    return {"matchers": ['alertname="cpu_high"'], "duration": "1h", "comment": "maintenance", **extra}


def _create(client: TestClient, headers: dict[str, str], **extra: Any) -> dict[str, Any]:
    response = client.post(BASE, headers=headers, json=_body(**extra))
    assert response.status_code == 201, response.text
    return dict(response.json())


def add_open_event(client: TestClient, tenant: str, rule: str, group_key: str = "", severity: str = "high") -> str:
    """Record an open event as the recorder would (its own row builder), straight into the gateway's database."""
    episode = Episode(tenant, rule_id=rule, group_key=group_key, severity=severity, started_at=datetime.now(UTC))
    row = open_event(episode.transition("fired"), [])

    async def insert() -> None:
        async with state_of(client.app).db.write() as session:  # type: ignore[arg-type]
            session.add(row)

    client.portal.call(insert)  # type: ignore[union-attr]
    return row.event_id


def test_create_read_list_by_state_and_expire(any_client: TestClient) -> None:
    tenant = _tenant()
    editor = mint(any_client, tenant, "editor")
    active = _create(any_client, editor, starts_at=_at(-timedelta(hours=1)), duration="3h")
    pending = _create(
        any_client, editor, starts_at=_at(timedelta(hours=1)), duration=None, ends_at=_at(timedelta(hours=2))
    )
    uuid.UUID(active["silence_id"])  # ids are UUIDs
    assert active["state"] == "active" and active["mutes_now"] is True
    assert pending["state"] == "pending" and pending["mutes_now"] is False
    # A start in the past starts now.
    assert datetime.fromisoformat(active["starts_at"]) > datetime.now(UTC) - timedelta(minutes=1)
    assert active["matchers"] == [{"name": "alertname", "type": "=", "value": "cpu_high"}]
    assert active["created_by"] == "test"  # the token's name when the body names nobody

    got = any_client.get(f"{BASE}/{active['silence_id']}", headers=editor)
    assert got.status_code == 200 and got.json()["comment"] == "maintenance"

    expired = any_client.post(f"{BASE}/{pending['silence_id']}/expire", headers=editor)
    assert expired.status_code == 200 and expired.json()["state"] == "expired"
    assert expired.json()["starts_at"] == expired.json()["ends_at"]  # a pending silence starts and ends now
    again = any_client.post(f"{BASE}/{pending['silence_id']}/expire", headers=editor)
    assert again.status_code == 200 and again.json()["version"] == expired.json()["version"]

    listed = any_client.get(BASE, headers=editor).json()
    assert listed["total"] == 2 and {i["silence_id"] for i in listed["items"]} == {
        active["silence_id"],
        pending["silence_id"],
    }
    only_active = any_client.get(BASE, headers=editor, params={"state": "active"}).json()
    assert [i["silence_id"] for i in only_active["items"]] == [active["silence_id"]]
    both = any_client.get(BASE, headers=editor, params={"state": "active,expired"}).json()
    assert both["total"] == 2
    paged = any_client.get(BASE, headers=editor, params={"limit": 1}).json()
    assert len(paged["items"]) == 1 and paged["next_cursor"]
    rest = any_client.get(BASE, headers=editor, params={"limit": 1, "cursor": paged["next_cursor"]}).json()
    assert rest["items"][0]["silence_id"] != paged["items"][0]["silence_id"]


def test_edits_follow_alertmanager(client: TestClient) -> None:
    editor = mint(client, _tenant(), "editor")
    silence = _create(client, editor)
    sid = silence["silence_id"]
    # Same matchers and start, a later end and a new comment: updated in place.
    same = {"matchers": silence["matchers"], "starts_at": silence["starts_at"], "ends_at": _at(timedelta(hours=3))}
    kept = client.put(f"{BASE}/{sid}", headers=editor, json={**same, "comment": "longer"})
    assert kept.status_code == 200, kept.text
    assert kept.json()["silence_id"] == sid and kept.json()["comment"] == "longer"
    assert kept.json()["change"] == {"reason": "updated in place", "expired_id": None}
    # New matchers: the old silence expires and a new one takes over.
    changed = client.put(f"{BASE}/{sid}", headers=editor, json={**same, "matchers": ["team=db"], "comment": "x"})
    assert changed.status_code == 201, changed.text
    new = changed.json()
    assert new["silence_id"] != sid and changed.headers["location"] == f"{BASE}/{new['silence_id']}"
    assert new["change"] == {"reason": "replaced: the matchers changed", "expired_id": sid}
    assert client.get(f"{BASE}/{sid}", headers=editor).json()["state"] == "expired"
    # Editing an expired silence makes a new one too.
    revived = client.put(f"{BASE}/{sid}", headers=editor, json={**same, "comment": "again"})
    assert revived.status_code == 201 and revived.json()["change"]["reason"] == "replaced: the silence had expired"
    assert revived.json()["change"]["expired_id"] is None


def test_recurring_silences(client: TestClient) -> None:
    editor = mint(client, _tenant(), "editor")
    every_day = {"timezone": "Europe/Berlin", "windows": [{"times": [{"start_time": "00:00", "end_time": "24:00"}]}]}
    always = _create(client, editor, duration=None, recurrence=every_day)
    assert always["kind"] == "recurring" and always["ends_at"] is None
    assert always["state"] == "active" and always["mutes_now"] is True
    cron = {"cron": "0 3 1 1 *", "duration": "1m", "timezone": "UTC"}  # a minute on New Year's night
    nightly = _create(client, editor, duration=None, recurrence=cron)
    assert nightly["mutes_now"] is (datetime.now(UTC).strftime("%m-%d %H:%M") == "01-01 03:00")
    # A recurring silence is edited in place.
    edited = client.put(
        f"{BASE}/{nightly['silence_id']}",
        headers=editor,
        json=_body(duration=None, recurrence={**cron, "duration": "2h"}),
    )
    assert edited.status_code == 200 and edited.json()["silence_id"] == nightly["silence_id"]
    assert edited.json()["recurrence"]["duration"] == "2h" and edited.json()["version"] == 2


def test_bad_bodies_are_422_naming_the_field(client: TestClient) -> None:
    editor = mint(client, _tenant(), "editor")
    cases: list[tuple[dict[str, Any], list[Any]]] = [
        (_body(matchers=[{"name": "job", "type": "=~", "value": "a("}]), ["matchers", 0, "value"]),
        (_body(matchers=["job=~(("]), ["matchers", 0]),
        (_body(matchers=[{"name": "1bad", "value": "x"}]), ["matchers", 0, "name"]),
        (_body(matchers=[{"name": "a", "type": "~", "value": "x"}]), ["matchers", 0, "type"]),
        (_body(matchers=[]), ["matchers"]),
        (_body(matchers=['a=~".*"']), ["matchers"]),  # it would mute everything
        (_body(duration=None, starts_at=_at(timedelta(hours=2)), ends_at=_at(timedelta(hours=1))), ["ends_at"]),
        (_body(duration=None, ends_at=_at(-timedelta(hours=1))), ["ends_at"]),
        (_body(duration=None), ["ends_at"]),
        (_body(duration="soon"), ["duration"]),
        (_body(starts_at="2025-01-01T00:00:00"), ["starts_at"]),  # no time zone
        (_body(comment=None), ["comment"]),
        (_body(colour="red"), ["colour"]),
        (
            _body(duration=None, recurrence={"timezone": "Mars/Base", "cron": "0 3 * * *", "duration": "1h"}),
            ["recurrence", "timezone"],
        ),
        (_body(duration=None, recurrence={"cron": "0 3 * * *"}), ["recurrence", "duration"]),
        (_body(duration=None, recurrence={"cron": "61 3 * * *", "duration": "1h"}), ["recurrence", "cron"]),
        (_body(duration=None, recurrence={"windows": [{"weekdays": ["funday"]}]}), ["recurrence", "windows", 0]),
        (_body(duration=None, recurrence={}), ["recurrence"]),
    ]
    for body, loc in cases:
        problem = is_problem(client.post(BASE, headers=editor, json=body), 422)
        assert loc in [e["loc"] for e in problem["errors"]], (body, problem)
    is_problem(client.get(BASE, headers=editor, params={"state": "sleeping"}), 422)
    is_problem(client.post(BASE, headers=editor, content=b"{"), 400)


def test_roles_and_tenant_isolation(client: TestClient) -> None:
    a, b = _tenant(), _tenant()
    editor_a, editor_b, viewer_a = mint(client, a, "editor"), mint(client, b, "editor"), mint(client, a, "viewer")
    mine = _create(client, editor_a)
    sid = mine["silence_id"]
    is_problem(client.post(BASE, headers=viewer_a, json=_body()), 403)
    is_problem(client.post(f"{BASE}/{sid}/expire", headers=viewer_a), 403)
    assert client.get(f"{BASE}/{sid}", headers=viewer_a).status_code == 200
    for response in (
        client.get(f"{BASE}/{sid}", headers=editor_b),
        client.put(f"{BASE}/{sid}", headers=editor_b, json=_body()),
        client.post(f"{BASE}/{sid}/expire", headers=editor_b),
        client.get(f"/api/v2/silence/{sid}", headers=editor_b),
        client.delete(f"/api/v2/silence/{sid}", headers=editor_b),
        client.post("/api/v2/silences", headers=editor_b, json=_v2_body(id=sid)),
        client.get(f"{BASE}/no-such-id", headers=editor_a),
        client.get(f"{BASE}/{'x' * 300}", headers=editor_a),
    ):
        is_problem(response, 404)
    assert client.get(BASE, headers=editor_b).json()["total"] == 0
    assert client.get("/api/v2/silences", headers=editor_b).json() == []
    assert client.get(f"{BASE}/{sid}", headers=editor_a).json()["state"] == "active"  # untouched by b
    is_problem(client.get(BASE), 401)


def _v2_body(**extra: Any) -> dict[str, Any]:
    return {
        "matchers": [{"name": "alertname", "value": "cpu_high", "isRegex": False}],
        "startsAt": _at(timedelta(0)),
        "endsAt": _at(timedelta(hours=1)),
        "createdBy": "amtool",
        "comment": "c",
        **extra,
    }


def test_audit_log_records_every_change(client: TestClient) -> None:
    tenant = _tenant()
    editor, admin = mint(client, tenant, "editor"), mint(client, tenant, "admin")
    silence = _create(client, editor)
    client.post(f"{BASE}/{silence['silence_id']}/expire", headers=editor)
    entries = client.get("/cep/audit", headers=admin, params={"resource": "silence"}).json()["items"]
    assert sorted(e["action"] for e in entries) == ["created", "expired"]
    assert {e["resource_id"] for e in entries} == {silence["silence_id"]}


def test_preview_matches_open_events_and_says_when_truncated(tmp_path: Path) -> None:
    with TestClient(create_app(settings_for(tmp_path, preview_open_events=2))) as client:
        tenant, other = _tenant(), _tenant()
        viewer = mint(client, tenant, "viewer")
        mint(client, other, "viewer")
        cpu = add_open_event(client, tenant, "cpu", group_key="host=gt-01,region=eu")
        add_open_event(client, other, "cpu", group_key="host=gt-01,region=eu")  # another tenant's: never matched
        preview = client.post(f"{BASE}/preview", headers=viewer, json={"matchers": ['host="gt-01"', "severity=high"]})
        assert preview.status_code == 200, preview.text
        events = preview.json()["events"]
        assert [e["event_id"] for e in events] == [cpu] and preview.json()["truncated"] is False
        assert events[0]["labels"] == {
            "alertname": "cpu-name",
            "severity": "high",
            "priority": "P2",
            "host": "gt-01",
            "region": "eu",
        }
        assert client.post(f"{BASE}/preview", headers=viewer, json={"matchers": ["host=other"]}).json()["events"] == []
        add_open_event(client, tenant, "disk")
        add_open_event(client, tenant, "mem")
        limited = client.post(f"{BASE}/preview", headers=viewer, json={"matchers": ["severity=high"]}).json()
        assert limited["truncated"] is True and limited["total"] == 2  # CEP_PREVIEW_OPEN_EVENTS=2: the newest two
        bad = is_problem(client.post(f"{BASE}/preview", headers=viewer, json={"matchers": ["a=~("]}), 422)
        assert bad["errors"][0]["loc"] == ["matchers", 0]


def _mirrored(server: NatsServer, key: str) -> dict[str, Any] | None:
    async def read() -> dict[str, Any] | None:
        nc = await nats.connect(server.url)
        try:
            kv = await nc.jetstream().key_value(subjects.SILENCES_BUCKET)
            return dict(codec.loads((await kv.get(key)).value or b"null"))
        except KeyNotFoundError:
            return None
        finally:
            await nc.close()

    return asyncio.run(read())


def test_silences_are_mirrored_for_the_notifier(client: TestClient, nats_server: NatsServer) -> None:
    tenant = _tenant()
    editor = mint(client, tenant, "editor")
    silence = _create(client, editor)
    key = subjects.tenant_item_key(tenant, silence["silence_id"])
    entry = _mirrored(nats_server, key)
    assert entry is not None and entry["version"] == 1 and entry["matchers"] == silence["matchers"]
    client.post(f"{BASE}/{silence['silence_id']}/expire", headers=editor)
    assert _mirrored(nats_server, key) is None  # an expired silence leaves the bucket


def test_reconciliation_restores_lost_keys_and_drops_run_out_silences(
    client: TestClient, nats_server: NatsServer
) -> None:
    tenant = _tenant()
    editor = mint(client, tenant, "editor")
    kept = _create(client, editor)
    short = _create(client, editor, duration="1s")
    kept_key = subjects.tenant_item_key(tenant, kept["silence_id"])
    short_key = subjects.tenant_item_key(tenant, short["silence_id"])

    async def lose_key() -> None:
        nc = await nats.connect(nats_server.url)
        await (await nc.jetstream().key_value(subjects.SILENCES_BUCKET)).delete(kept_key)
        await nc.close()

    asyncio.run(lose_key())  # a write that never reached NATS
    assert _mirrored(nats_server, kept_key) is None and _mirrored(nats_server, short_key) is not None
    time.sleep(1.1)  # the short silence runs out on its own: no route touches it
    client.portal.call(state_of(client.app).silence_publisher.reconcile)  # type: ignore[union-attr, arg-type]
    assert (_mirrored(nats_server, kept_key) or {}).get("version") == 1
    assert _mirrored(nats_server, short_key) is None


def test_a_tenant_holds_at_most_its_quota_of_unexpired_silences(tmp_path: Path) -> None:
    with TestClient(create_app(settings_for(tmp_path, quota_silences=2))) as client:
        editor, other = mint(client, _tenant(), "editor"), mint(client, _tenant(), "editor")
        first = _create(client, editor)
        every_day = {"windows": [{"times": [{"start_time": "00:00", "end_time": "24:00"}]}]}
        _create(client, editor, duration=None, recurrence=every_day)  # recurring ones count too
        problem = is_problem(client.post(BASE, headers=editor, json=_body()), 429)
        assert "2 active or pending silences" in problem["detail"] and "`silences` is 2" in problem["detail"]
        assert "CEP_QUOTA_SILENCES" in problem["detail"] and problem["type"] == "urn:cep:problem:quota-exceeded"
        pending = _body(duration=None, starts_at=_at(timedelta(hours=1)), ends_at=_at(timedelta(hours=2)))
        is_problem(client.post(BASE, headers=editor, json=pending), 429)
        # Amtool's endpoint refuses the same way, as its other errors: a 400 with the reason as a JSON string.
        refused = client.post("/api/v2/silences", headers=editor, json=_v2_body())
        assert refused.status_code == 400 and "CEP_QUOTA_SILENCES" in refused.json(), refused.text
        # Another tenant is not held back by this one's silences.
        _create(client, other)
        # An edit that replaces a silence at the quota expires the old one first: it passes.
        sid = first["silence_id"]
        replaced = client.put(f"{BASE}/{sid}", headers=editor, json=_body(matchers=["team=db"]))
        assert replaced.status_code == 201, replaced.text
        # Reviving the now expired silence would add one: refused, and nothing changed.
        is_problem(client.put(f"{BASE}/{sid}", headers=editor, json=_body()), 429)
        assert client.get(BASE, headers=editor, params={"state": "active,pending"}).json()["total"] == 2
        # Expired silences do not count: expiring one makes room.
        assert client.post(f"{BASE}/{replaced.json()['silence_id']}/expire", headers=editor).status_code == 200
        assert client.post("/api/v2/silences", headers=editor, json=_v2_body()).status_code == 200
        is_problem(client.post(BASE, headers=editor, json=_body()), 429)
