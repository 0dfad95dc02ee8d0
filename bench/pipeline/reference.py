"""The offline reference: the product's pure engine over the same events, and the check that a part matches it."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bench.pipeline.workload import Workload
from services.common.domain.evaluation.rule_engine import RuleEngine
from services.common.domain.events.intake import Item, check_item, to_event
from services.common.domain.events.model import Event
from services.common.domain.lifecycle.transitions import Transition
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


def parsed_events(payloads: Sequence[dict[str, Any]], first: int = 0, tenant: str = TENANT) -> list[Event]:
    """Domain events of `tenant` through the same intake checks the router applies (ids differ; transition ids
    do not use them)."""
    out = []
    for offset, payload in enumerate(payloads):
        item = check_item(payload, _ARRIVAL)
        assert isinstance(item, Item), item
        out.append(to_event(item, event_id=str(first + offset), tenant=tenant, received_at=_ARRIVAL))
    return out


def reference_run(rules: Sequence[Rule], events: Sequence[Event], chunk: int = 100) -> tuple[list[Transition], Speed]:
    """The transitions the pure engine produces over `events` (in chunks, as a shard feeds it), and its speed."""
    engine = RuleEngine()
    for rule in rules:
        engine.upsert_rule(rule)
    out: list[Transition] = []
    started = time.perf_counter()
    for first in range(0, len(events), chunk):
        out += engine.on_events(events[first : first + chunk])
    return out, Speed(len(events), time.perf_counter() - started)


def as_flips(transitions: Iterable[Transition], rules: Sequence[Rule]) -> list[tuple[int, str, str, float]]:
    """Fired and resolved transitions as the peer writes them: (rule index in `rules`, host, kind, event time)."""
    index_of = {rule.rule_id: index for index, rule in enumerate(rules)}
    return [
        (index_of[t.rule_id], str(t.payload["host"]), t.kind, t.at.timestamp())
        for t in transitions
        if t.kind in ("fired", "resolved")
    ]


def check_same(name: str, got: Sequence[tuple[Any, ...]], expected: Sequence[tuple[Any, ...]]) -> None:
    """Fail the run loudly when `name`'s transitions differ from the reference's (order aside)."""
    if sorted(got) != sorted(expected):
        missing, extra = set(expected) - set(got), set(got) - set(expected)
        raise AssertionError(
            f"{name}: {len(got)} transitions, the reference {len(expected)}; "
            f"missing e.g. {sorted(missing)[:3]}, extra e.g. {sorted(extra)[:3]}"
        )
