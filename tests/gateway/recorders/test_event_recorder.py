"""The recorder: alert transitions and delivery results from real JetStream into SQL, idempotently, then the feed."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from nats.js.client import JetStreamContext

from services.common.db.migrate import upgrade
from services.common.db.sql_engine import open_database
from services.gateway import row_codec
from services.gateway.recorders import event_record
from services.gateway.store import events as store
from services.gateway.store.events import Alert
from tests.gateway.live_gateway import (
    HOOK,
    T0,
    Episode,
    LiveGateway,
    drop_stale_results,
    feed_count,
    new_tenant,
    publish_alert,
    publish_result,
    recorder_idle,
    result_for,
    start_gateway,
)
from tests.support.waiting import eventually_async


async def _event(gateway: LiveGateway, headers: dict[str, str], event_id: str) -> dict[str, Any] | None:
    async with httpx.AsyncClient(base_url=gateway.url, headers=headers) as client:
        response = await client.get(f"/cep/events/{event_id}")
    return response.json() if response.status_code == 200 else None


# -- the record, step by step (pure) ----------------------------------------------------------------------
def test_a_lifecycle_folds_into_one_record() -> None:
    episode = Episode(new_tenant())
    row = event_record.open_event(episode.transition("fired"), HOOK)
    assert (row.status, row.count, row.fired_at) == ("open", 1, T0)
    assert row.history == [{"at": "2025-03-01T12:00:00Z", "status": "open", "actor": "system", "note": None}]
    assert [(n["transition"], n["status"], n["attempts"]) for n in row.notifications] == [("fired", "pending", 0)]

    later = T0 + timedelta(minutes=1)
    event_record.apply_transition(row, episode.transition("updated", at=later, count=3, payload={"cpu": 99}), HOOK)
    assert (row.count, row.last_seen, row.payload) == (3, later, {"cpu": 99})
    assert len(row.notifications) == 1 and len(row.history) == 1  # updates are neither notified nor history

    end = T0 + timedelta(minutes=5)
    event_record.apply_transition(row, episode.transition("resolved", at=end, count=3), HOOK)
    assert (row.status, row.resolved_at) == ("resolved", end)
    assert [h["status"] for h in row.history] == ["open", "resolved"]
    assert [n["transition"] for n in row.notifications] == ["fired", "resolved"]


def test_transitions_out_of_order_leave_the_same_record() -> None:
    episode = Episode(new_tenant())
    fired, updated = episode.transition("fired"), episode.transition("updated", at=T0 + timedelta(seconds=30), count=2)
    in_order = event_record.open_event(fired, HOOK)
    event_record.apply_transition(in_order, updated, HOOK)
    reversed_ = event_record.open_event(updated, HOOK)
    event_record.apply_transition(reversed_, fired, HOOK)
    for name in ("status", "count", "last_seen", "payload", "fired_at", "history", "notifications"):
        assert getattr(in_order, name) == getattr(reversed_, name), name


def test_an_acked_event_that_resolves_becomes_resolved_and_acks_once() -> None:
    episode = Episode(new_tenant())
    row = event_record.open_event(episode.transition("fired"), HOOK)
    assert event_record.acknowledge(row, "alice", "looking", T0 + timedelta(seconds=5))
    assert not event_record.acknowledge(row, "bob", "again", T0 + timedelta(seconds=6))
    assert (row.status, row.acked_by) == ("acked", "alice")
    event_record.apply_transition(row, episode.transition("resolved", at=T0 + timedelta(minutes=1)), HOOK)
    assert row.status == "resolved"
    assert [(h["status"], h["actor"], h["note"]) for h in row.history] == [
        ("open", "system", None),
        ("acked", "alice", "looking"),
        ("resolved", "system", "test"),
    ]


@pytest.mark.parametrize(
    ("results", "status", "attempts", "log"),
    [
        ([(1, "retrying", "HTTP 500"), (2, "sent", None)], "sent", 2, [1, 2]),
        ([(2, "sent", None), (1, "retrying", "HTTP 500")], "sent", 2, [1, 2]),  # a late attempt 1 changes no status
        ([(1, "retrying", "HTTP 500"), (1, "retrying", "HTTP 500")], "retrying", 1, [1]),  # redelivered
        ([(0, "suppressed", None)], "suppressed", 0, []),
    ],
)
def test_delivery_results_fold_into_the_notification(
    results: list[tuple[int, str, str | None]], status: str, attempts: int, log: list[int]
) -> None:
    fired = Episode(new_tenant()).transition("fired")
    row = event_record.open_event(fired, HOOK)
    for attempt, result_status, error in results:
        final = result_status in {"sent", "suppressed"}
        event_record.apply_result(row, "fired", result_for(fired, attempt, result_status, error=error, final=final))
    (entry,) = row.notifications
    assert (entry["status"], entry["attempts"], [line["n"] for line in entry["attempt_log"]]) == (status, attempts, log)
    assert (entry["channel"], entry["channel_id"], entry["type"]) == ("ops-hook", "ch-1", "webhook")


def test_a_suppressed_notification_shows_its_reason_and_counts_on_the_event() -> None:
    fired = Episode(new_tenant()).transition("fired")
    row = event_record.open_event(fired, HOOK)
    result = dataclasses.replace(
        result_for(fired, 0, "suppressed", final=True), reason="storm budget of 20 notifications per 300s used up"
    )
    event_record.apply_result(row, "fired", result)
    (entry,) = row.notifications
    assert (entry["status"], entry["reason"], entry["attempt_log"]) == ("suppressed", result.reason, [])
    assert row_codec.event_json(row)["suppressed"] == 1


def test_a_notification_the_policy_sent_is_its_own_entry_saying_so() -> None:
    fired = Episode(new_tenant()).transition("fired")
    row = event_record.open_event(fired, HOOK)
    result = dataclasses.replace(result_for(fired, 1, "sent", final=True), action_index=1, via="policy:0.1")
    event_record.apply_result(row, "fired", result)
    rule_entry, policy_entry = row.notifications
    assert (rule_entry["status"], rule_entry.get("via")) == ("pending", None)
    assert (policy_entry["action_index"], policy_entry["status"], policy_entry["via"]) == (1, "sent", "policy:0.1")
    assert row_codec.event_json(row)["notifications"][1]["via"] == "policy:0.1"


# -- through NATS and SQL ---------------------------------------------------------------------------------
async def test_fired_updated_resolved_through_the_alert_stream(gateway: LiveGateway, js: JetStreamContext) -> None:
    tenant = new_tenant()
    headers = gateway.token(tenant, "viewer")
    episode = Episode(tenant)
    await publish_alert(js, episode.transition("fired"))
    fired = await eventually_async(lambda: _event(gateway, headers, episode.event_id))
    assert fired["status"] == "open" and fired["count"] == 1
    assert fired["history"][0] == {"status": "open", "at": "2025-03-01T12:00:00Z", "actor": "system", "note": None}
    assert fired["notifications"][0]["status"] == "pending"

    seen = T0 + timedelta(minutes=2)
    await publish_alert(js, episode.transition("updated", at=seen, count=2, payload={"cpu": 97}))

    async def updated() -> dict[str, Any] | None:
        event = await _event(gateway, headers, episode.event_id)
        return event if event and event["count"] == 2 else None

    assert (await eventually_async(updated))["payload"] == {"cpu": 97}

    await publish_alert(js, episode.transition("resolved", at=T0 + timedelta(minutes=7), count=2, last_seen=seen))

    async def resolved() -> dict[str, Any] | None:
        event = await _event(gateway, headers, episode.event_id)
        return event if event and event["status"] == "resolved" else None

    final = await eventually_async(resolved)
    assert final["resolved_at"] == "2025-03-01T12:07:00Z" and final["last_seen"] == "2025-03-01T12:02:00Z"
    assert [h["status"] for h in final["history"]] == ["open", "resolved"]
    await eventually_async(lambda: _feed_is(js, tenant, 3))  # fired, updated, resolved


async def _feed_is(js: JetStreamContext, tenant: str, expected: int) -> bool:
    return await feed_count(js, tenant) == expected


async def test_the_same_alert_twice_is_one_event_and_one_feed_message(
    gateway: LiveGateway, js: JetStreamContext
) -> None:
    await drop_stale_results(js)
    tenant = new_tenant()
    headers = gateway.token(tenant, "viewer")
    episode = Episode(tenant)
    fired = episode.transition("fired")
    for _ in range(3):  # three stream messages (no Nats-Msg-Id), as a redelivery or a re-publish would be
        await publish_alert(js, fired, dedupe=False)
    await eventually_async(lambda: _event(gateway, headers, episode.event_id))
    await eventually_async(lambda: recorder_idle(js))
    async with httpx.AsyncClient(base_url=gateway.url, headers=headers) as client:
        listed = (await client.get("/cep/events")).json()
    assert listed["total"] == 1
    assert await feed_count(js, tenant) == 1


async def test_changes_committed_but_never_fed_are_fed_at_start(tmp_path: Path, js: JetStreamContext) -> None:
    """A crash between the SQL commit and the feed publish: the next start publishes what is missing, once."""
    tenant = new_tenant()
    url = f"sqlite:///{tmp_path / 'cep.db'}"
    upgrade(url)
    db = open_database(url)
    episode = Episode(tenant)
    fired = episode.transition("fired")
    async with db.write() as session:
        await store.record_alerts(session, [Alert(fired, HOOK)], T0)
    await db.dispose()
    assert await feed_count(js, tenant) == 0

    gateway = start_gateway(tmp_path, url)
    try:
        await drop_stale_results(js)
        await eventually_async(lambda: _feed_is(js, tenant, 1))
        await publish_alert(js, fired)  # the redelivery of the alert the crashed recorder never acked
        await eventually_async(lambda: recorder_idle(js))
        assert await feed_count(js, tenant) == 1
        msg = await js.get_msg(f"CEP_FEED_{tenant}", 1)
        assert msg.headers and msg.headers["Nats-Msg-Id"] == f"{fired.transition_id}:feed"
    finally:
        gateway.stop()


async def test_delivery_results_fill_the_notifications(gateway: LiveGateway, js: JetStreamContext) -> None:
    await drop_stale_results(js)
    tenant = new_tenant()
    headers = gateway.token(tenant, "viewer")
    fired = Episode(tenant).transition("fired")
    # The notifier can be faster than the recorder: a result whose alert is not recorded yet waits for it.
    await publish_result(js, result_for(fired, 1, "retrying", error="HTTP 500"))
    await publish_alert(js, fired)
    await publish_result(js, result_for(fired, 2, "sent", final=True))
    await publish_result(js, result_for(fired, 2, "sent", final=True), dedupe=False)  # redelivered

    async def delivered() -> dict[str, Any] | None:
        event = await _event(gateway, headers, fired.event_id)
        entry = event["notifications"][0] if event else {}
        return event if entry.get("attempts") == 2 and len(entry.get("attempt_log", [])) == 2 else None

    entry = (await eventually_async(delivered))["notifications"][0]
    await eventually_async(lambda: recorder_idle(js))
    entry = (await _event(gateway, headers, fired.event_id) or {})["notifications"][0]
    assert entry["status"] == "sent" and entry["last_error"] is None
    assert entry["channel_id"] == "ch-1" and entry["type"] == "webhook"
    assert [(line["n"], line["status"], line["error"]) for line in entry["attempt_log"]] == [
        (1, "retrying", "HTTP 500"),
        (2, "sent", None),
    ]
    assert entry["last_attempt_at"] == "2025-03-01T12:00:02Z"
    assert await feed_count(js, tenant) == 3  # fired, then one `notification` per distinct result
