"""Labs 3 and 9 against `cep up`: a schedule rule runs on time, each run is its own event and calls its API, and
the scheduler's figures explain the delay. The stack runs with the test-only CEP_SCHEDULER_CRON_SECONDS, so the
cron minute field counts seconds (`*/2 * * * *` runs every two seconds) instead of making the test wait minutes."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from tests.support.http_sink import http_sink
from tests.support.stack import Stack, start_stack, stop_stack

# Each needs its own stack (20-25 s): `make test-slow` keeps `make test` under 10 minutes.
pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def fast_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = start_stack(tmp_path_factory.mktemp("sched") / "state", env={"CEP_SCHEDULER_CRON_SECONDS": "true"})
    yield stack
    stop_stack(stack)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_lab3_a_health_check_runs_on_schedule_and_lab9_explains_it(fast_stack: Stack) -> None:
    tenant = f"sched-{uuid.uuid4().hex[:6]}"
    with fast_stack.client() as admin:
        token = admin.post("/cep/auth/tokens", json={"tenant": tenant, "role": "editor", "name": "sre"}).json()["token"]
    ok = (200, b'{"status": "ok"}')
    with http_sink(lambda _: ok, content_type="application/json") as health, fast_stack.client(token) as api:
        created = api.post(
            "/cep/channels",
            json={"name": "health-api", "type": "api_call", "config": {"url": f"{health.url}/health"}},
        )
        assert created.status_code == 201, created.text
        rule = api.post(
            "/cep/rules",
            json={
                "name": "health_check",
                "active": True,
                "priority": "P2",
                "trigger_type": "schedule",
                "trigger_spec": {"cron": "*/2 * * * *", "timezone": "UTC"},
                "action_spec": [{"type": "api_call", "channel": "health-api"}],
            },
        )
        assert rule.status_code == 201, rule.text
        rule_id = rule.json()["rule_id"]

        def runs() -> list[dict[str, Any]]:
            return list(api.get("/cep/scheduler/runs", params={"rule_id": rule_id}).json()["items"])

        deadline = time.monotonic() + 40
        while len([r for r in runs() if r["status"] == "fired"]) < 4 and time.monotonic() < deadline:
            time.sleep(0.5)
        fired = sorted(_time(r["scheduled_at"]) for r in runs() if r["status"] == "fired")
        assert len(fired) >= 4, runs()
        gaps = {(b - a).total_seconds() for a, b in itertools.pairwise(fired)}
        assert gaps == {2.0}, fired  # consecutive: none missing, none twice
        assert all(r["instance"] and r["delay_ms"] >= 0 for r in runs())

        # every run is its own event, and its API call went out
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            events = api.get("/cep/events", params={"rule_id": rule_id, "limit": 1000}).json()["items"]
            if len(events) >= 4 and sum(e["notifications"][0]["status"] == "sent" for e in events) >= 4:
                break
            time.sleep(0.5)
        assert len({e["event_id"] for e in events}) == len(events) >= 4
        assert all(e["count"] == 1 for e in events)  # never absorbed
        assert len(health.requests) >= 4 and health.requests[0].method == "GET"

        status = api.get("/cep/scheduler/status").json()
        for field in ("leader", "instances", "runs", "missed_runs", "late_runs", "delay_ms", "runs_by_instance"):
            assert field in status, status
        assert status["runs"] >= 4 and status["leader"] in status["runs_by_instance"]
        assert {"p50", "p99"} <= set(status["delay_ms"])
        instances = api.get("/cep/scheduler/instances").json()["items"]
        assert [i["instance"] for i in instances if i["leader"]] == [status["leader"]]
