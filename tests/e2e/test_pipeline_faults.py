"""Killing the evaluator, or one shard actor, with work in flight loses nothing and doubles nothing (compared with
the pure core). The quick versions of tests/chaos (`make test-chaos`): the shard actors are frozen so the work
piles up un-acked, then the victim is killed."""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.common.domain.rules.model import Rule
from tests.chaos.observe import children, consumer_backlog, shard_actor_pids, wait_ready, work_unacked
from tests.chaos.outcome import recorded_alerts
from tests.chaos.workload import Fingerprint, expected_counts
from tests.support.stack import Stack, start_stack, stop_stack

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # two SIGKILL runs of ~45 s each: in make test-slow

RULES, KEYS, EVENTS = 12, 40, 3000
# Event time a day ahead of the wall clock: the driver's ticks (wall-clock time) never resolve these episodes.
T0 = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = start_stack(tmp_path_factory.mktemp("faults") / "state")
    yield stack
    stop_stack(stack)


@dataclass
class Scenario:
    """A tenant's rules and events, ingested while every shard actor was frozen."""

    stack: Stack
    token: str
    tenant: str
    rules: list[Rule]
    items: list[dict[str, Any]]
    frozen: list[int]
    unacked: int

    def expected(self) -> Counter[Fingerprint]:
        return expected_counts(self.rules, self.tenant, self.items)

    def recorded(self) -> dict[Fingerprint, int]:
        with self.stack.client(self.token) as api:
            counts, repeated = recorded_alerts([api], {r.rule_id for r in self.rules})
        assert repeated == 0, "two events for one fingerprint"
        return counts


@contextlib.contextmanager
def frozen_load(stack: Stack, prefix: str) -> Iterator[Scenario]:
    """Create RULES event rules (grouped by key), SIGSTOP every shard actor, ingest EVENTS events and wait until
    MIN_UNACKED work messages are un-acked; the block strikes; every frozen actor still alive is resumed after it."""
    wait_ready(stack)
    tenant = f"{prefix}-{uuid.uuid4().hex[:6]}"
    with stack.client() as admin:
        minted = admin.post("/cep/auth/tokens", json={"tenant": tenant, "role": "editor", "name": "load"})
    token = minted.json()["token"]
    items = [
        {
            "event_type": f"{prefix}-{i % RULES}",
            "key": f"k-{i % KEYS}",
            "timestamp": (T0 + timedelta(seconds=i)).isoformat(),
        }
        for i in range(EVENTS)
    ]
    with stack.client(token) as api:
        rules = []
        for r in range(RULES):
            trigger = {"event_type": f"{prefix}-{r}", "group_by": ["key"], "resolve_after": "1h"}
            body = {"name": f"{prefix}{r}", "trigger_type": "event", "active": True, "trigger_spec": trigger}
            created = api.post("/cep/rules", json=body)
            assert created.status_code == 201, created.text
            rules.append(Rule.model_validate({k: v for k, v in created.json().items() if k in Rule.model_fields}))
        frozen = shard_actor_pids(stack.state_dir)
        assert frozen, "no shard actor processes found"
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        try:
            for start in range(0, EVENTS, 500):
                response = api.post("/cep/ingest", json=items[start : start + 500])
                assert response.status_code == 202, response.text
            # Every event routed while the shards are frozen: all of their work is un-acked (in a few batched
            # work messages per shard, next to the driver's ticks).
            deadline = time.monotonic() + 30
            while (routing := consumer_backlog(stack.state_dir).get("CEP_EVENTS/router", 1)) and (
                time.monotonic() < deadline
            ):
                time.sleep(0.2)
            unacked = work_unacked(stack.state_dir)
            assert routing == 0 and unacked > 0, f"{routing} raw messages not routed, {unacked} work messages un-acked"
            yield Scenario(stack, token, tenant, rules, items, frozen, unacked)
        finally:
            for pid in frozen:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)


def assert_counted_once(scenario: Scenario, timeout: float = 120) -> None:
    """Every accepted event counted exactly once: the alerts' counts become the pure core's."""
    expected = scenario.expected()
    assert len(expected) == 120 and set(expected.values()) == {EVENTS // 120}  # lcm(12, 40) fingerprints
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and scenario.recorded() != dict(expected):
        time.sleep(1)
    assert scenario.recorded() == dict(expected)


def test_sigkill_of_the_evaluator_with_unacked_work_loses_and_doubles_nothing(own_stack: Stack) -> None:
    with frozen_load(own_stack, "ev") as scenario:
        print(f"\nkilling the evaluator with {scenario.unacked} work messages un-acked")
        os.killpg(children(own_stack.state_dir)["evaluator"]["pid"], signal.SIGKILL)
    assert_counted_once(scenario)
    ready = own_stack.client().get("/readyz").json()
    assert ready["checks"]["supervisor"]["detail"]["evaluator"]["restarts"] >= 1


def test_sigkill_of_one_shard_actor_with_unacked_work_loses_and_doubles_nothing(own_stack: Stack) -> None:
    with frozen_load(own_stack, "actor") as scenario:
        print(f"\nkilling one shard actor with {scenario.unacked} work messages un-acked")
        os.kill(scenario.frozen[0], signal.SIGKILL)
    assert_counted_once(scenario)
