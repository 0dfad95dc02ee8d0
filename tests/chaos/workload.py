"""The scripted, seeded workload of a chaos run and its oracle: the pure domain core over the accepted events.

Every rule is an event rule grouped by `key` with a long `resolve_after`, and every event time lies within a
few minutes a day ahead of the wall clock: no episode ever resolves, so the outcome (one alert per fingerprint,
its `count` = the matching events) does not depend on the order in which shards see the events.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from services.common.domain.evaluation.rule_engine import RuleEngine
from services.common.domain.events.model import Event, event_time
from services.common.domain.rules.model import Rule

Fingerprint = tuple[str, str]  # (rule_id, group_key)
KEYS = 300  # distinct group keys over the whole workload
KEYS_PER_TYPE = 8  # each event type sees a few of them: fingerprints carry counts well above 1
BATCH = 500


@dataclass(frozen=True)
class Workload:
    """`rules` (API bodies) and `events` (ingest items, in batches), all drawn from one seed."""

    seed: int
    rules: list[dict[str, Any]]
    batches: list[list[dict[str, Any]]]

    @property
    def events(self) -> int:
        return sum(len(b) for b in self.batches)


def make_workload(seed: int, events: int, rules: int, channel: str, webhook_rules: int) -> Workload:
    """Rule r matches event type `t-(r mod rules/2)`, the first half with `level < 5`, the second `level >= 5`; every
    `rules // webhook_rules`-th rule also sends a signed webhook (a storm budget high enough never to digest)."""
    rng = random.Random(seed)
    types = max(1, rules // 2)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    bodies = []
    for r in range(rules):
        body: dict[str, Any] = {
            "name": f"chaos-{r}",
            "trigger_type": "event",
            "active": True,
            "trigger_spec": {"event_type": f"t-{r % types}", "group_by": ["key"], "resolve_after": "6h"},
        }
        # The two rules of a type split its events by level: each event raises exactly one transition.
        op = ">=" if r >= types else "<"
        body["conditions"] = {"logic": "AND", "conditions": [{"field": "level", "op": op, "value": 5}]}
        if webhook_rules and r % max(1, rules // webhook_rules) == 0:
            body["action_spec"] = [{"type": "webhook", "channel": channel}]
            body["suppression"] = {"storm_budget": 10000}
        bodies.append(body)
    items = []
    for i in range(events):
        kind = rng.randrange(types)
        items.append(
            {
                "event_type": f"t-{kind}",
                "key": f"k-{(kind * 7 + rng.randrange(KEYS_PER_TYPE)) % KEYS}",
                "level": rng.randrange(10),
                "n": i,
                "timestamp": (start + timedelta(milliseconds=10 * i)).isoformat(),
            }
        )
    return Workload(seed, bodies, [items[i : i + BATCH] for i in range(0, len(items), BATCH)])


def expected_counts(rules: list[Rule], tenant: str, items: list[dict[str, Any]]) -> Counter[Fingerprint]:
    """The pure core's answer: the final `count` of every alert the events raise."""
    engine = RuleEngine()
    for rule in rules:
        engine.upsert_rule(rule)
    now = datetime.now(UTC)
    counts: Counter[Fingerprint] = Counter()
    events = [Event(f"oracle-{i}", tenant, event_time(item, now), item) for i, item in enumerate(items)]
    for transition in engine.on_events(events):
        counts[(transition.rule_id, transition.group_key)] = transition.count
    return counts
