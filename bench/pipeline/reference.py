"""The offline reference (the product's pure engine over the same events) and the bare Python loop (the CPU limit)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bench.pipeline.workload import RuleShape, Workload, sample_of
from services.common.domain.evaluation.rule_engine import RuleEngine
from services.common.domain.events.intake import Item, check_item, to_event
from services.common.domain.events.model import Event
from services.common.domain.rules.model import Rule

TENANT = "default"  # the admin token's tenant under `cep up`
_ARRIVAL = datetime(2026, 1, 1, tzinfo=UTC)  # unused by the rules: every event carries its own timestamp


@dataclass(frozen=True)
class Speed:
    """How many events a part handled and in how many seconds."""

    events: int
    seconds: float

    @property
    def eps(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def local_rules(workload: Workload) -> list[Rule]:
    """The workload's rules as stored rules with local ids (for runs without a stack)."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    server = {"tenant": TENANT, "version": 1, "created_at": now, "updated_at": now}
    return [
        Rule.model_validate({**shape.api_body(), "rule_id": f"r{i:05d}", **server})
        for i, shape in enumerate(workload.rules())
    ]


def parsed_events(payloads: Sequence[dict[str, Any]], first: int = 0) -> list[Event]:
    """Domain events through the same intake checks the router applies (ids differ; transition ids do not use them)."""
    out = []
    for offset, payload in enumerate(payloads):
        item = check_item(payload, _ARRIVAL)
        assert isinstance(item, Item), item
        out.append(to_event(item, event_id=str(first + offset), tenant=TENANT, received_at=_ARRIVAL))
    return out


def reference_run(rules: Sequence[Rule], events: Sequence[Event], chunk: int = 100) -> tuple[set[str], Speed]:
    """The transition ids the pure engine produces over `events` (in chunks, as a shard feeds it), and its speed."""
    engine = RuleEngine()
    for rule in rules:
        engine.upsert_rule(rule)
    ids: set[str] = set()
    started = time.perf_counter()
    for first in range(0, len(events), chunk):
        ids.update(t.transition_id for t in engine.on_events(events[first : first + chunk]))
    return ids, Speed(len(events), time.perf_counter() - started)


def bare_loop(shapes: Sequence[RuleShape], workload: Workload, payloads: Sequence[dict[str, Any]]) -> tuple[int, Speed]:
    """The same rules in the plainest Python: per (rule, host) a phase and, for windows, a deque and a sum.

    Returns the transitions (fired + resolved) it counted, to check it against the engine, and its speed.
    """
    by_metric: dict[str, list[tuple[int, float, float | None]]] = {}
    for index, shape in enumerate(shapes):
        by_metric.setdefault(shape.metric, []).append((index, shape.threshold, shape.window_seconds))
    state: dict[tuple[int, str], list[Any]] = {}
    transitions = 0
    started = time.perf_counter()
    for payload in payloads:
        metric, host, at, value = sample_of(workload, payload)
        for index, threshold, length in by_metric.get(metric, ()):
            entry = state.get((index, host))
            if entry is None:
                entry = state[(index, host)] = [False, deque(), 0.0]
            if length is None:
                measured = value
            else:
                window, total = entry[1], entry[2] + value
                window.append((at, value))
                while window[0][0] <= at - length:
                    total -= window.popleft()[1]
                entry[2] = total
                measured = total / len(window)
            firing = measured > threshold
            if firing != entry[0]:
                entry[0] = firing
                transitions += 1
    return transitions, Speed(len(payloads), time.perf_counter() - started)
