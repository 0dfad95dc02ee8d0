"""Through `cep up`: a rule that raises on an event is reported on the rule and as a dead letter an admin replays."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from tests.support.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # a `cep up` stack of its own: in make test-slow
T = TypeVar("T")

# A multiscale anomaly rule overflows (OverflowError) on a second sample near the float limit: a real poison input.
MULTISCALE = {
    "name": "cpu_multiscale",
    "trigger_type": "anomaly",
    "trigger_spec": {"value_path": "dl_cpu", "anomaly_method": "multiscale", "threshold": 3, "min_baseline": 3},
    "action_spec": [],
    "active": True,
}
PLAIN = {
    "name": "cpu_plain",
    "trigger_type": "metric",
    "trigger_spec": {"metric_name": "dl_cpu", "operator": ">", "threshold": 85},
    "action_spec": [],
    "active": True,
}


def until(probe: Callable[[], T | None], what: str, timeout: float = 60) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_a_failing_rule_is_reported_and_its_event_replayed(stack: Stack) -> None:
    tenant = f"dead-{uuid.uuid4().hex[:6]}"
    with stack.client() as platform:
        minted = platform.post("/cep/auth/tokens", json={"tenant": tenant, "role": "admin", "name": "dl-admin"})
    assert minted.status_code == 201, minted.text
    with stack.client(minted.json()["token"]) as api:
        rules = {body["name"]: api.post("/cep/rules", json=body).json()["rule_id"] for body in (MULTISCALE, PLAIN)}
        multiscale, plain = rules["cpu_multiscale"], rules["cpu_plain"]

        def ingest(items: list[dict[str, Any]]) -> None:
            response = api.post("/cep/ingest", json=items)
            assert response.status_code == 202 and response.json()["accepted"] == len(items), response.text

        def events(rule_id: str) -> list[dict[str, Any]]:
            return api.get("/cep/events", params={"rule_id": rule_id}).json()["items"]

        def failures() -> list[dict[str, Any]]:
            return api.get("/cep/dead-letters", params={"source": "rule_failure"}).json()["items"]

        warm = [{"dl_cpu": 50 + n} for n in range(6)]
        ingest(warm)
        ingest([{"dl_cpu": 1e308, "n": 1}])
        ingest([{"dl_cpu": 1e308, "n": 2}])  # the second huge sample: the multiscale rule raises

        [letter] = until(failures, "the rule failure's dead letter")
        assert letter["rule_id"] == multiscale and letter["error"].startswith("OverflowError")
        assert letter["replay"]["payload"] == {"dl_cpu": 1e308, "n": 2}
        rule = api.get(f"/cep/rules/{multiscale}").json()
        assert (rule["error_count"], rule["last_error"]) == (1, letter["error"])
        # The other rule judged the same events and fired; the failing rule's episode ended with its reset state.
        assert until(lambda: events(plain), "the plain rule's event")
        [ended] = until(lambda: [e for e in events(multiscale) if e["status"] == "resolved"], "the reset episode")

        # The failing rule goes on: a new baseline, then a huge sample fires it again.
        ingest(warm)
        ingest([{"dl_cpu": 1e308, "n": 3}])
        until(lambda: len(events(multiscale)) == 2, "the multiscale rule to fire again")
        assert api.get(f"/cep/rules/{multiscale}").json()["error_count"] == 1

        # A replay sends the failed sample in again: a second huge sample in a row, so the rule raises again.
        replayed = api.post(f"/cep/dead-letters/{letter['id']}/replay")
        assert replayed.status_code == 200, replayed.text
        assert replayed.json()["published"]["subject"] == f"cep.ingest.{tenant}"
        until(lambda: api.get(f"/cep/rules/{multiscale}").json()["error_count"] == 2, "the replay to fail again")
        assert len(failures()) == 2 and ended["event_id"]
        conflict = api.post(f"/cep/dead-letters/{letter['id']}/replay")
        assert conflict.status_code == 409 and conflict.headers["content-type"].startswith("application/problem+json")
