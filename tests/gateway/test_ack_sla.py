"""The ACK-SLA check in a real gateway: open events past their SLA become one `cep.ack.sla_breached` event each.

Real parts: the session's nats-server (the breach events are read back from `cep.internal.<tenant>` and from the
CEP_EVENTS stream), the recorder, SQLite and PostgreSQL. The events are recorded by a gateway without an SLA
(and acked or resolved there), then a gateway with `P1=1s` takes over the same database: so what is open,
acked or resolved when the check first looks is fixed, not a race against the sweep.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from nats.aio.msg import Msg
from nats.js.client import JetStreamContext
from pydantic import ValidationError

from services.common.domain.lifecycle.transitions import Transition
from services.common.messages import codec
from services.common.nats import subjects
from services.gateway.settings import GatewaySettings
from services.gateway.state import state_of
from tests.gateway.live_gateway import T0, Episode, LiveGateway, new_tenant, publish_alert, start_gateway
from tests.support.nats import NatsServer
from tests.support.waiting import eventually_async

SLA = {"ack_sla": "P1=1s", "ack_sla_sweep_seconds": 0.1, "ack_sla_catch_up": False}  # no evaluator here


def p1(transition: Transition, priority: str = "P1") -> Transition:
    return dataclasses.replace(transition, priority=priority)


async def get_event(gateway: LiveGateway, headers: dict[str, str], event_id: str) -> dict[str, Any] | None:
    async with httpx.AsyncClient(base_url=gateway.url, headers=headers, timeout=10) as client:
        response = await client.get(f"/cep/events/{event_id}")
    return response.json() if response.status_code == 200 else None


async def wait_sweeps(gateway: LiveGateway, more: int) -> None:
    """Wait until the gateway's ACK-SLA check has finished `more` further sweeps."""
    check = state_of(gateway.app).ack_sla
    target = check.sweeps + more
    await eventually_async(lambda: _true(check.sweeps >= target))


async def _true(value: bool) -> bool:
    return value


async def internal_count(js: JetStreamContext, tenant: str) -> int:
    """How many messages CEP_EVENTS holds on the tenant's internal subject (after JetStream's de-duplication)."""
    subject = subjects.internal_subject(tenant)
    info = await js.stream_info(subjects.EVENTS_STREAM, subjects_filter=subject)
    return int((info.state.subjects or {}).get(subject, 0))


@pytest.fixture
async def internal(nats_server: NatsServer) -> AsyncIterator[tuple[str, list[Msg]]]:
    """A fresh tenant and every message published on its `cep.internal.<tenant>` subject (core subscription)."""
    tenant = new_tenant()
    seen: list[Msg] = []
    client = await nats.connect(nats_server.url)

    async def keep(msg: Msg) -> None:
        seen.append(msg)

    await client.subscribe(subjects.internal_subject(tenant), cb=keep)
    await client.flush()
    yield tenant, seen
    await client.drain()


async def record_without_sla(
    state: Path, database_url: str, js: JetStreamContext, tenant: str
) -> tuple[dict[str, str], dict[str, str]]:
    """Record five P1/P4 events with a gateway that has no SLA: ack one, resolve one; return the ids and a token."""
    open_ = Episode(tenant, rule_id="open-p1")
    acked = Episode(tenant, rule_id="acked-p1")
    resolved = Episode(tenant, rule_id="resolved-p1")
    no_sla = Episode(tenant, rule_id="open-p4")
    breach_of_breach = Episode(tenant, rule_id="escalation-p1", trigger_type="event")
    gateway = start_gateway(state, database_url, ack_sla="off")
    try:
        headers = gateway.token(tenant, "editor")
        for transition in (
            p1(open_.transition("fired")),
            p1(acked.transition("fired")),
            p1(resolved.transition("fired")),
            p1(resolved.transition("resolved", at=T0.replace(minute=5))),
            p1(no_sla.transition("fired"), "P4"),
            p1(breach_of_breach.transition("fired", payload={"event_type": "cep.ack.sla_breached", "x": 1})),
        ):
            await publish_alert(js, transition, [])  # no actions: no deliveries outlive this test's database
        for episode in (open_, acked, no_sla, breach_of_breach):
            await eventually_async(_status(gateway, headers, episode.event_id, "open"))
        await eventually_async(_status(gateway, headers, resolved.event_id, "resolved"))
        async with httpx.AsyncClient(base_url=gateway.url, headers=headers, timeout=10) as client:
            ack = await client.post(f"/cep/events/{acked.event_id}/ack", json={"note": "on it"})
        assert ack.status_code == 200, ack.text
    finally:
        gateway.stop()
    ids = {
        "open": open_.event_id,
        "acked": acked.event_id,
        "resolved": resolved.event_id,
        "p4": no_sla.event_id,
        "escalation": breach_of_breach.event_id,
    }
    return ids, headers


def _status(gateway: LiveGateway, headers: dict[str, str], event_id: str, status: str) -> Callable[[], Awaitable[bool]]:
    """A probe: whether the event is recorded with this status."""

    async def probe() -> bool:
        event = await get_event(gateway, headers, event_id)
        return event is not None and event["status"] == status

    return probe


async def test_an_open_p1_event_past_its_sla_is_reported_once(
    tmp_path: Path, database_url: str, js: JetStreamContext, internal: tuple[str, list[Msg]]
) -> None:
    tenant, seen = internal
    ids, headers = await record_without_sla(tmp_path, database_url, js, tenant)

    gateway = start_gateway(tmp_path, database_url, **SLA)
    try:
        event = await eventually_async(lambda: _breached(gateway, headers, ids["open"]))
        await wait_sweeps(gateway, 2)  # two more sweeps: nothing new
        feed = await js.get_last_msg(subjects.feed_stream(tenant), subjects.feed_subject(tenant))
    finally:
        gateway.stop()

    assert [h["status"] for h in event["history"]] == ["open", "sla_breached"]
    assert event["history"][1] == {
        "at": "2025-03-01T12:00:01Z",  # fired_at + 1s: when the SLA ran out
        "status": "sla_breached",
        "actor": "system",
        "note": "not acknowledged within 1s (P1)",
    }
    assert event["status"] == "open"  # a breach is history, not a status: the event still waits for its ACK
    assert feed.data is not None
    update = codec.loads(feed.data)
    assert (update["type"], update["event"]["event_id"]) == ("updated", ids["open"])
    assert update["event"]["history"] == event["history"]

    (msg,) = seen
    assert msg.headers is not None and msg.headers[subjects.MSG_ID] == f"sla:{ids['open']}"
    assert subjects.RECEIVED_AT in msg.headers
    body = codec.loads(msg.data)
    overdue = body.pop("overdue_seconds")
    assert overdue > 0
    assert body == {
        "event_type": "cep.ack.sla_breached",
        "event_id": ids["open"],
        "rule_id": "open-p1",
        "rule_name": "open-p1-name",
        "priority": "P1",
        "severity": "high",
        "fired_at": "2025-03-01T12:00:00Z",
        "due_at": "2025-03-01T12:00:01Z",
        "sla": "1s",
        "alert_fingerprint": event["fingerprint"],
        "group_key": "",
        "summary": "cpu > 85",
    }

    # Acked, resolved, P4 (no SLA) and the escalation of a breach: nothing, and their history is untouched.
    restarted = start_gateway(tmp_path, database_url, **SLA)
    try:
        await wait_sweeps(restarted, 3)
        others = {name: await get_event(restarted, headers, ids[name]) for name in ("acked", "resolved", "p4")}
        escalation = await get_event(restarted, headers, ids["escalation"])
    finally:
        restarted.stop()
    assert len(seen) == 1, [codec.loads(m.data) for m in seen]  # the restart reported nothing again
    assert await internal_count(js, tenant) == 1
    for name, other in {**others, "escalation": escalation}.items():
        assert other is not None
        assert "sla_breached" not in [h["status"] for h in other["history"]], name


async def _breached(gateway: LiveGateway, headers: dict[str, str], event_id: str) -> dict[str, Any] | None:
    event = await get_event(gateway, headers, event_id)
    if event is None or "sla_breached" not in [h["status"] for h in event["history"]]:
        return None
    return event


async def test_a_breach_published_before_a_crash_is_not_published_twice(
    tmp_path: Path, js: JetStreamContext, internal: tuple[str, list[Msg]]
) -> None:
    """Publish first, then record: a gateway that died in between publishes again with the same id, dropped."""
    tenant, seen = internal
    database_url = f"sqlite:///{tmp_path / 'cep.db'}"
    episode = Episode(tenant, rule_id="crash-p1")
    first = start_gateway(tmp_path, database_url, ack_sla="off")
    try:
        headers = first.token(tenant, "viewer")
        await publish_alert(js, p1(episode.transition("fired")), [])
        await eventually_async(lambda: get_event(first, headers, episode.event_id))
    finally:
        first.stop()
    # What the dead gateway got out before it could record the breach:
    await js.publish(
        subjects.internal_subject(tenant),
        codec.dumps({"event_type": "cep.ack.sla_breached", "event_id": episode.event_id}),
        headers={subjects.MSG_ID: f"sla:{episode.event_id}"},
    )

    second = start_gateway(tmp_path, database_url, **SLA)
    try:
        event = await eventually_async(lambda: _breached(second, headers, episode.event_id))
    finally:
        second.stop()
    assert [h["status"] for h in event["history"]] == ["open", "sla_breached"]
    assert len(seen) == 2  # both publishes went out on the subject ...
    assert await internal_count(js, tenant) == 1  # ... and the stream (what rules see) kept one


def test_without_an_sla_no_check_runs(tmp_path: Path) -> None:
    gateway = start_gateway(tmp_path, ack_sla="off")
    try:
        assert state_of(gateway.app).ack_sla is None
    finally:
        gateway.stop()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("P9=15m", "CEP_ACK_SLA: unknown priority 'P9'"),
        ("P1=soon", "CEP_ACK_SLA: P1: invalid duration 'soon'"),
        ("P1", "CEP_ACK_SLA: 'P1' is not PRIORITY=DURATION"),
    ],
)
def test_a_bad_setting_stops_the_gateway_at_start(
    value: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CEP_ACK_SLA", value)
    with pytest.raises(ValidationError) as caught:
        GatewaySettings(state_dir=tmp_path)
    assert message in str(caught.value)


def test_the_setting_defaults_and_turns_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CEP_ACK_SLA", raising=False)
    assert GatewaySettings(state_dir=tmp_path).ack_sla_policy.describe() == "P1=15m,P2=1h,P3=4h"
    monkeypatch.setenv("CEP_ACK_SLA", "off")
    assert not GatewaySettings(state_dir=tmp_path).ack_sla_policy.enabled
    monkeypatch.setenv("CEP_ACK_SLA_SWEEP_SECONDS", "0")
    with pytest.raises(ValidationError, match="ack_sla_sweep_seconds"):
        GatewaySettings(state_dir=tmp_path)
