"""The ACK SLA end to end: a P1 event left un-acked past `CEP_ACK_SLA` fires a `cep.ack.sla_breached` rule, once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.stack import Stack, start_stack, stop_stack
from tests.support.waiting import eventually

# Each needs its own stack (20-25 s): `make test-slow` keeps `make test` under 10 minutes.
pytestmark = [pytest.mark.e2e, pytest.mark.slow]
TENANT = "sla-e2e"


@pytest.fixture(scope="module")
def sla_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state: Path = tmp_path_factory.mktemp("sla") / "state"
    running = start_stack(state, env={"CEP_ACK_SLA": "P1=2s", "CEP_ACK_SLA_SWEEP_SECONDS": "0.5"})
    yield running
    stop_stack(running)


def event_rule(api: httpx.Client, name: str, event_type: str, priority: str, **spec: Any) -> str:
    body = {
        "name": name,
        "active": True,
        "priority": priority,
        "trigger_type": "event",
        "trigger_spec": {"event_type": event_type, "resolve_after": "1h", **spec},
    }
    created = api.post("/cep/rules", json=body)
    assert created.status_code == 201, created.text
    return str(created.json()["rule_id"])


def events_of(api: httpx.Client, rule_id: str) -> list[dict[str, Any]]:
    answer = api.get("/cep/events", params={"rule_id": rule_id})
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def test_an_unacked_p1_event_fires_the_sla_rule_once(sla_stack: Stack) -> None:
    with sla_stack.client() as admin:
        minted = admin.post("/cep/auth/tokens", json={"tenant": TENANT, "role": "editor", "name": "sre"})
    assert minted.status_code == 201, minted.text
    with sla_stack.client(minted.json()["token"]) as api:
        disk = event_rule(api, "disk_full", "disk.full", "P1")
        # P1 as well: an escalation nobody acks must not breach in its turn (no breach of a breach).
        escalation = event_rule(api, "ack_sla_escalation", "cep.ack.sla_breached", "P1", group_by=["alert_fingerprint"])
        ingested = api.post("/cep/ingest", json={"event_type": "disk.full", "host": "db-1"})
        assert ingested.status_code == 202, ingested.text

        (fired,) = eventually(lambda: events_of(api, disk), what="the disk_full event")
        (escalated,) = eventually(lambda: events_of(api, escalation), what="the escalation event")
        assert escalated["payload"]["event_id"] == fired["event_id"]
        assert (escalated["payload"]["sla"], escalated["payload"]["priority"]) == ("2s", "P1")
        assert escalated["payload"]["alert_fingerprint"] == fired["fingerprint"]

        def breached() -> list[dict[str, Any]] | None:
            history = list(api.get(f"/cep/events/{fired['event_id']}").json()["history"])
            return history if "sla_breached" in [h["status"] for h in history] else None

        history = eventually(breached, what="the sla_breached history entry")
        assert [h["status"] for h in history] == ["open", "sla_breached"]
        assert history[1]["note"] == "not acknowledged within 2s (P1)"

        time.sleep(5)  # more than two SLA periods and many sweeps: room for a repeat or a breach of the breach
        assert len(events_of(api, escalation)) == 1
        assert events_of(api, escalation)[0]["count"] == 1  # no second breach absorbed into it
        again = api.get(f"/cep/events/{escalated['event_id']}").json()
        assert "sla_breached" not in [h["status"] for h in again["history"]]
