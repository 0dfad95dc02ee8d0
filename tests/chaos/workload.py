"""The scripted, seeded workload of a chaos run over three tenants, and its oracle: the reference engine.

Most rules are event rules grouped by `key` with a long `resolve_after`, and every event time lies within a few
minutes a day ahead of the wall clock: no such episode ever resolves, so the outcome (one alert per fingerprint,
its `count` = the matching events) does not depend on the order in which shards see the events. Each tenant also
holds metric rules (windows, aggregations, durations) and an anomaly rule over per-host series that travel whole
in one batch each (tests/chaos/series_workload.py): their episodes, fired and resolved in event time, do not
depend on that order either. The oracle is the explainable reference engine run in this process over the
accepted events, not the path the shards run.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from services.common.domain.evaluation.rule_engine import RuleEngine
from services.common.domain.events.model import Event, event_time
from services.common.domain.rules.model import Rule
from tests.chaos.series_workload import SERIES_RULES, series_batches

Fingerprint = tuple[str, str]  # (rule_id, group_key)
KEYS = 300  # distinct group keys over the whole workload
KEYS_PER_TYPE = 8  # each event type sees a few of them: fingerprints carry counts well above 1
BATCH = 500


Entry = tuple[int, dict[str, Any]]  # (tenant index, ingest item)
Episode = tuple[datetime, datetime | None]  # a metric or anomaly alert: (fired_at, resolved_at)


@dataclass(frozen=True)
class Workload:
    """`rules` (API bodies, with the index of their tenant) and `batches` (ingest items, with the index of the
    tenant that sends them), all drawn from one seed."""

    seed: int
    tenants: int
    rules: list[tuple[int, dict[str, Any]]]
    batches: list[tuple[int, list[dict[str, Any]]]]

    @property
    def events(self) -> int:
        return sum(len(b) for _, b in self.batches)


def make_workload(
    seed: int, events: int, rules: int, channel: str, webhook_rules: int, tenants: int = 3, hosts: int = 48
) -> Workload:
    """Rule r matches event type `t-(r mod rules/2)`, the first half with `level < 5`, the second `level >= 5`, and
    belongs to tenant (type mod `tenants`), which sends that type's events; every `rules // webhook_rules`-th rule
    also sends a signed webhook (a storm budget high enough never to digest). Each tenant also holds SERIES_RULES
    and sends `hosts` series (tests/chaos/series_workload.py). The batches are shuffled (seeded)."""
    rng = random.Random(seed)
    types = max(1, rules // 2)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    bodies: list[tuple[int, dict[str, Any]]] = []
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
        bodies.append(((r % types) % tenants, body))
    bodies += [(tenant, body) for tenant in range(tenants) for body in SERIES_RULES]
    per_tenant: list[list[dict[str, Any]]] = [[] for _ in range(tenants)]
    for i in range(events):
        kind = rng.randrange(types)
        per_tenant[kind % tenants].append(
            {
                "event_type": f"t-{kind}",
                "key": f"k-{(kind * 7 + rng.randrange(KEYS_PER_TYPE)) % KEYS}",
                "level": rng.randrange(10),
                "n": i,
                "timestamp": (start + timedelta(milliseconds=10 * i)).isoformat(),
            }
        )
    batches = [(t, items[i : i + BATCH]) for t, items in enumerate(per_tenant) for i in range(0, len(items), BATCH)]
    batches += [(t, b) for t in range(tenants) for b in series_batches(rng, start, hosts, f"t{t}")]
    rng.shuffle(batches)
    return Workload(seed, tenants, bodies, batches)


@dataclass
class Expected:
    """The reference engine's answer: per event-rule fingerprint its final `count`; per metric or anomaly
    fingerprint its episodes, and the host each series is about."""

    counts: Counter[Fingerprint] = field(default_factory=Counter)
    episodes: dict[Fingerprint, list[Episode]] = field(default_factory=dict)
    hosts: dict[Fingerprint, str] = field(default_factory=dict)


def expected(rules: list[Rule], tenants: list[str], entries: list[Entry]) -> Expected:
    """Run the reference engine (services/common/domain/evaluation/rule_engine.py, never the shards' path) over
    the entries, in their order, and project its transitions as `/cep/events` shows them."""
    engine = RuleEngine()
    for rule in rules:
        engine.upsert_rule(rule)
    now = datetime.now(UTC)
    answer = Expected()
    events = [Event(f"oracle-{i}", tenants[t], event_time(item, now), item) for i, (t, item) in enumerate(entries)]
    for transition in engine.on_events(events):
        key = (transition.rule_id, transition.group_key)
        if transition.trigger_type == "event":
            answer.counts[key] = transition.count
            continue
        answer.hosts[key] = str(transition.payload.get("host"))
        episodes = answer.episodes.setdefault(key, [])
        if transition.kind == "fired":
            episodes.append((transition.started_at, None))
        elif transition.kind == "resolved" and episodes:
            episodes[-1] = (episodes[-1][0], transition.at)
    return answer


def expected_counts(rules: list[Rule], tenant: str, items: list[dict[str, Any]]) -> Counter[Fingerprint]:
    """The reference engine's final `count` of every event-rule alert, for one tenant's items."""
    return expected(rules, [tenant], [(0, item) for item in items]).counts
