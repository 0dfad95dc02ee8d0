"""The ACK SLA across a long stop: a P1 event the engine resolves (`resolve_after`) before its deadline never
breaches, however late the resolution is recorded, and one it does not resolve breaches once the pipeline is back.

The real stack (`cep up`, default `CEP_ACK_SLA` P1=15m). The 50-minute stop is played in event time: with the
evaluator's driver stopped (SIGSTOP: no ticks, so no timer runs; its shard actors keep evaluating), two P1 events
stamped 50 minutes ago fire and are recorded open, 35 minutes past their deadline. The gateway sweeps every 0.5 s
meanwhile; then the whole stack is stopped and started again on the same state, where the gateway's sweep and
the catching-up evaluator (restored from its snapshot, ticking again) start together, as in the reported fault.
`resolves` (resolve_after 5m) must come back resolved at fired+5m with no `sla_breached`; `stays`
(resolve_after 2h) must breach, once: the sweep did not merely stop.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.common.domain.events.model import format_time, parse_time
from tests.chaos.conftest import start_chaos_stack
from tests.chaos.observe import children, wait_ready
from tests.e2e.test_ack_sla_e2e import event_rule
from tests.support.stack import kill_everything, stop_stack
from tests.support.waiting import eventually

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(600)]

TENANT = "chaos-sla-stop"
STOPPED = timedelta(minutes=50)
SWEEP = {"CEP_ACK_SLA": "P1=15m", "CEP_ACK_SLA_SWEEP_SECONDS": "0.5"}
HELD_SECONDS = 6.0  # sweeps while the evaluator is stopped: twelve chances to judge too early


def only_event(api: httpx.Client, rule_id: str) -> dict[str, Any] | None:
    items = api.get("/cep/events", params={"rule_id": rule_id}).json()["items"]
    assert len(items) <= 1, items
    return items[0] if items else None


def statuses(event: dict[str, Any]) -> list[str]:
    return [entry["status"] for entry in event["history"]]


def test_a_resolution_recorded_after_a_long_stop_cancels_the_breach(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    stack = start_chaos_stack(state_dir, **SWEEP)
    with stack.client() as admin:
        minted = admin.post("/cep/auth/tokens", json={"tenant": TENANT, "role": "editor", "name": "sre"})
    assert minted.status_code == 201, minted.text
    token = minted.json()["token"]
    with stack.client(token) as api:
        resolves = event_rule(api, "disk_full", "disk.full", "P1", group_by=["host"], resolve_after="5m")
        stays = event_rule(api, "disk_slow", "disk.slow", "P1", group_by=["host"], resolve_after="2h")
        escalation = event_rule(api, "ack_sla_escalation", "cep.ack.sla_breached", "P1", group_by=["alert_fingerprint"])
        wait_ready(stack)
        driver = children(state_dir)["evaluator"]["pid"]
        os.kill(driver, signal.SIGSTOP)  # the driver only: its clock stops, its shard actors keep consuming
        try:
            fired = (datetime.now(UTC) - STOPPED).replace(microsecond=0)
            events = [
                {"event_type": t, "host": "db-1", "timestamp": format_time(fired)} for t in ("disk.full", "disk.slow")
            ]
            sent = api.post("/cep/ingest", json=events)
            assert sent.status_code == 202, sent.text
            for rule_id in (resolves, stays):
                opened = eventually(_event_of(api, rule_id), 90, f"the event of {rule_id}")
                assert opened["status"] == "open" and parse_time(opened["fired_at"]) == fired
            time.sleep(HELD_SECONDS)
            for rule_id in (resolves, stays):
                held = only_event(api, rule_id)
                assert held is not None and statuses(held) == ["open"], "judged while the engine's clock stood still"
        finally:
            stop_stack(stack, timeout=30)  # the stopped driver cannot tick before it goes
            kill_everything(state_dir)  # a stopped process may outlive its supervisor
    restarted = start_chaos_stack(state_dir, **SWEEP)
    try:
        with restarted.client(token) as api:
            done = eventually(lambda: _status(api, resolves, "resolved"), 90, "the resolution after the restart")
            assert parse_time(done["resolved_at"]) == fired + timedelta(minutes=5)
            late = eventually(lambda: _breached(api, stays), 90, "the breach of the event nobody resolved")
            assert statuses(late) == ["open", "sla_breached"]
            time.sleep(3.0)  # sweeps enough to see a second breach or a breach of the resolved one
            resolved = only_event(api, resolves)
            assert resolved is not None, "the resolved event went away"
            assert "sla_breached" not in statuses(resolved), statuses(resolved)
            breaches = api.get("/cep/events", params={"rule_id": escalation}).json()["items"]
            assert [b["payload"]["event_id"] for b in breaches] == [late["event_id"]]
            assert breaches[0]["count"] == 1
    finally:
        stop_stack(restarted)


def _event_of(api: httpx.Client, rule_id: str) -> Callable[[], dict[str, Any] | None]:
    return lambda: only_event(api, rule_id)


def _status(api: httpx.Client, rule_id: str, status: str) -> dict[str, Any] | None:
    event = only_event(api, rule_id)
    return event if event is not None and event["status"] == status else None


def _breached(api: httpx.Client, rule_id: str) -> dict[str, Any] | None:
    event = only_event(api, rule_id)
    return event if event is not None and "sla_breached" in statuses(event) else None
