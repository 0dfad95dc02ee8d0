"""Killing the evaluator with work in flight loses nothing and doubles nothing (compared with the pure core)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.common.domain.engine import RuleEngine
from services.common.domain.events import Event, event_time
from services.common.domain.rules import Rule
from tests.support.stack import Stack, stack_pids, start_stack, stop_stack

pytestmark = pytest.mark.e2e

RULES, KEYS, EVENTS, MIN_UNACKED = 12, 40, 3000, 300
# Event time a day ahead of the wall clock: the driver's ticks (wall-clock time) never resolve these episodes.
T0 = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = start_stack(tmp_path_factory.mktemp("faults") / "state")
    yield stack
    stop_stack(stack)


def work_unacked(state_dir: Path) -> int:
    """Pending + ack-pending of the shard consumers on CEP_WORK, from the nats-server's monitoring endpoint."""
    ports = json.loads((state_dir / "ports.json").read_text())
    url = f"http://127.0.0.1:{ports['nats_monitor']}/jsz?consumers=true"
    with urllib.request.urlopen(url, timeout=2) as response:
        info = json.loads(response.read())
    total = 0
    for account in info.get("account_details", []):
        for stream in account.get("stream_detail", []):
            if stream["name"] == "CEP_WORK":
                for consumer in stream.get("consumer_detail") or []:
                    total += consumer.get("num_pending", 0) + consumer.get("num_ack_pending", 0)
    return total


def wait_ready(stack: Stack, timeout: float = 90) -> None:
    """Wait for the whole stack, every shard actor consuming, to be ready (after an earlier test's fault)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError), urllib.request.urlopen(f"{stack.url}/readyz", timeout=3) as r:
            if r.status == 200 and len(shard_actor_pids(stack.state_dir)) >= 2:
                return
        time.sleep(0.3)
    raise AssertionError("the stack did not become ready again")


def shard_actor_pids(state_dir: Path) -> list[int]:
    """The Ray worker processes of this stack's shard actors."""
    pids = []
    for pid in stack_pids(state_dir):
        try:
            if b"ShardActor" in Path(f"/proc/{pid}/cmdline").read_bytes():
                pids.append(pid)
        except OSError:
            continue
    return pids


def test_sigkill_of_the_evaluator_with_unacked_work_loses_and_doubles_nothing(own_stack: Stack) -> None:
    stack = own_stack
    wait_ready(stack)
    tenant = f"chaos-{uuid.uuid4().hex[:6]}"
    with stack.client() as admin:
        token = admin.post("/cep/auth/tokens", json={"tenant": tenant, "role": "editor", "name": "load"}).json()[
            "token"
        ]
    items = [
        {
            "event_type": f"type-{i % RULES}",
            "key": f"k-{i % KEYS}",
            "n": i,
            "timestamp": (T0 + timedelta(seconds=i)).isoformat(),
        }
        for i in range(EVENTS)
    ]
    with stack.client(token) as api:
        rules = []
        for r in range(RULES):
            body = {
                "name": f"r{r}",
                "trigger_type": "event",
                "active": True,
                "trigger_spec": {"event_type": f"type-{r}", "group_by": ["key"], "resolve_after": "1h"},
            }
            created = api.post("/cep/rules", json=body)
            assert created.status_code == 201, created.text
            rules.append(Rule.model_validate(created.json()))

        # Freeze the shard actors so work piles up un-acked, then ingest everything.
        frozen = shard_actor_pids(stack.state_dir)
        assert frozen, "no shard actor processes found"
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        try:
            ids: list[str] = []
            for start in range(0, EVENTS, 500):
                response = api.post("/cep/ingest", json=items[start : start + 500])
                assert response.status_code == 202, response.text
                ids += response.json()["event_ids"]
            deadline = time.monotonic() + 30
            while (unacked := work_unacked(stack.state_dir)) < MIN_UNACKED and time.monotonic() < deadline:
                time.sleep(0.2)
            assert unacked >= MIN_UNACKED, f"only {unacked} work messages un-acked"
            records = json.loads((stack.state_dir / "supervisor.json").read_text())["children"]
            print(f"\nkilling the evaluator with {unacked} work messages un-acked")
            os.killpg(records["evaluator"]["pid"], signal.SIGKILL)
        finally:
            for pid in frozen:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)

        # The pure core's answer for the same input, in the same order.
        engine = RuleEngine()
        for rule in rules:
            engine.upsert_rule(rule)
        now = datetime.now(UTC)
        expected: Counter[tuple[str, str]] = Counter()
        for transition in engine.on_events(
            [Event(i, tenant, event_time(item, now), item) for i, item in zip(ids, items, strict=True)]
        ):
            expected[(transition.rule_id, transition.group_key)] = transition.count
        assert len(expected) == 120 and set(expected.values()) == {EVENTS // 120}  # lcm(12, 40) fingerprints

        def recorded() -> dict[tuple[str, str], dict[str, Any]]:
            out: dict[tuple[str, str], dict[str, Any]] = {}
            cursor = None
            while True:
                page = api.get("/cep/events", params={"limit": 1000, **({"cursor": cursor} if cursor else {})}).json()
                for event in page["items"]:
                    key = (event["rule_id"], event["group_key"])
                    assert key not in out, f"two events for one fingerprint: {key}"
                    out[key] = event
                cursor = page.get("next_cursor")
                if not cursor:
                    return out

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            got = recorded()
            if {k: e["count"] for k, e in got.items()} == dict(expected):
                break
            time.sleep(1)
        got = recorded()
        assert {k: e["count"] for k, e in got.items()} == dict(expected)
        assert sum(e["count"] for e in got.values()) == EVENTS
        ready = stack.client().get("/readyz").json()
        assert ready["checks"]["supervisor"]["detail"]["evaluator"]["restarts"] >= 1


def test_sigkill_of_one_shard_actor_with_unacked_work_loses_and_doubles_nothing(own_stack: Stack) -> None:
    stack = own_stack
    wait_ready(stack)
    tenant = f"actor-{uuid.uuid4().hex[:6]}"
    with stack.client() as admin:
        token = admin.post("/cep/auth/tokens", json={"tenant": tenant, "role": "editor", "name": "load"}).json()[
            "token"
        ]
    items = [
        {"event_type": f"a-{i % RULES}", "key": f"k-{i % KEYS}", "timestamp": (T0 + timedelta(seconds=i)).isoformat()}
        for i in range(EVENTS)
    ]
    with stack.client(token) as api:
        for r in range(RULES):
            body = {
                "name": f"a{r}",
                "trigger_type": "event",
                "active": True,
                "trigger_spec": {"event_type": f"a-{r}", "group_by": ["key"], "resolve_after": "1h"},
            }
            assert api.post("/cep/rules", json=body).status_code == 201
        actors = shard_actor_pids(stack.state_dir)
        victim, others = actors[0], actors[1:]
        for pid in actors:
            os.kill(pid, signal.SIGSTOP)
        try:
            for start in range(0, EVENTS, 500):
                assert api.post("/cep/ingest", json=items[start : start + 500]).status_code == 202
            deadline = time.monotonic() + 30
            while (unacked := work_unacked(stack.state_dir)) < MIN_UNACKED and time.monotonic() < deadline:
                time.sleep(0.2)
            assert unacked >= MIN_UNACKED, f"only {unacked} work messages un-acked"
            print(f"\nkilling one shard actor with {unacked} work messages un-acked")
            os.kill(victim, signal.SIGKILL)
        finally:
            for pid in others:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)

        def counts() -> dict[tuple[str, str], int]:
            page = api.get("/cep/events", params={"limit": 1000}).json()
            assert page["total"] <= 1000
            keys = [(e["rule_id"], e["group_key"]) for e in page["items"]]
            assert len(keys) == len(set(keys)), "two events for one fingerprint"
            return {(e["rule_id"], e["group_key"]): e["count"] for e in page["items"]}

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and sum(counts().values()) < EVENTS:
            time.sleep(1)
        got = counts()
        assert len(got) == 120 and set(got.values()) == {EVENTS // 120}, got
