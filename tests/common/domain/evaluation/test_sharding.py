"""Series placement: every series on exactly one shard, the same place in every process, events sent where their
series live, and engines sharded that way giving exactly the transitions of one engine."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.domain.evaluation.compiled.engine import CompiledEngine
from services.common.domain.evaluation.rule_engine import RuleEngine
from services.common.domain.evaluation.rule_index import RuleIndex
from services.common.domain.evaluation.sharding import (
    BY_RULE,
    SERIES,
    Placement,
    events_by_shard,
    shard_for,
    shards_per_event,
)
from services.common.domain.events.model import SCHEDULE_EVENT_TYPE, Event
from services.common.domain.lifecycle.episodes import compile_rule, group_key_for
from services.common.domain.lifecycle.transitions import Transition
from services.common.domain.rules.model import Rule
from tests.common.domain.kit import at, make_rule, metric


def anomaly(**extra: Any) -> dict[str, Any]:
    spec = {"value_path": "cpu", "anomaly_method": "zscore", "threshold": 2.0, "min_baseline": 3, **extra}
    return {"trigger_type": "anomaly", "trigger_spec": spec}


def errors(**extra: Any) -> dict[str, Any]:
    return {"trigger_type": "event", "trigger_spec": {"event_type": "error", "resolve_after": "1m", **extra}}


RULES: list[Rule] = [
    *(
        make_rule(metric("cpu", threshold=t, group_by=["host"], resolve_after="2m"), f"cpu-{t}-{tenant}", tenant=tenant)
        for t in (50, 80)
        for tenant in ("acme", "beta")
    ),
    make_rule(metric("cpu", aggregation="avg", window="2m", group_by=["host"], duration="1m"), "avg", tenant="acme"),
    make_rule(metric("cpu", threshold=60, group_by=["host", "region"]), "host-region", tenant="acme"),
    make_rule(metric("cpu", threshold=70, group_by=["region"], no_data_after="3m"), "region", tenant="acme"),
    make_rule(metric("cpu", threshold=90), "whole", tenant="acme"),  # ungrouped
    make_rule(errors(group_by=["host"]), "errors-by-host", tenant="acme"),
    make_rule(errors(), "errors", tenant="beta"),  # ungrouped
    make_rule(anomaly(group_by=["host"]), "outliers", tenant="acme"),
    make_rule(anomaly(), "outliers-off", tenant="beta", active=False),  # learns while inactive
    make_rule({"trigger_type": "schedule", "trigger_spec": {"cron": "* * * * *"}}, "cron", tenant="acme"),
]

# A step: ("cpu", delta, tenant, host, region, value) | ("error", delta, tenant, host) | ("run", delta)
# | ("tick", delta)
deltas = st.integers(min_value=-20, max_value=90)
tenants = st.sampled_from(["acme", "beta"])
hosts = st.sampled_from(["h0", "h1", "h2", "h3", "h4"])
regions = st.sampled_from(["eu", "us"])
raw_steps = st.lists(
    st.one_of(
        st.tuples(st.just("cpu"), deltas, tenants, hosts, regions, st.integers(min_value=30, max_value=100)),
        st.tuples(st.just("error"), deltas, tenants, hosts),
        st.tuples(st.just("run"), deltas),
        st.tuples(st.just("tick"), st.integers(min_value=0, max_value=300)),
    ),
    max_size=50,
)


def concrete(raw: list[tuple[Any, ...]]) -> list[tuple[str, Any]]:
    """Drawn steps as events at a wandering clock (some late) and monotonic ticks."""
    clock, last_tick, steps = 0, 0, []
    for index, (kind, delta, *rest) in enumerate(raw):
        if kind == "tick":
            last_tick = max(last_tick, clock + delta)
            steps.append(("tick", at(last_tick)))
            continue
        clock += delta
        if kind == "cpu":
            tenant, host, region, value = rest
            event = Event(f"e{index}", tenant, at(clock), {"cpu": value, "host": host, "region": region})
        elif kind == "error":
            event = Event(f"e{index}", rest[0], at(clock), {"host": rest[1]}, "error")
        else:
            payload = {"rule_id": "cron", "scheduled_at": at(clock).isoformat()}
            event = Event(f"e{index}", "acme", at(clock), payload, SCHEDULE_EVENT_TYPE)
        steps.append(("event", event))
    return steps


def engine(
    rules: list[Rule], placement: Placement | None = None, shard: int = 0, kind: type[RuleEngine] = RuleEngine
) -> RuleEngine:
    built = kind(owns=None if placement is None else placement.owner(shard))
    for rule in rules:
        built.upsert_rule(rule)
    return built


def by_series(transitions: list[Transition]) -> dict[tuple[str, str, str], list[dict[str, Any]]]:
    """Each series' transitions in order (tenant, rule, group key): what per-series order promises."""
    out: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for transition in transitions:
        out.setdefault((transition.tenant, transition.rule_id, transition.group_key), []).append(transition.as_dict())
    return out


@settings(max_examples=150, deadline=None)
@given(raw=raw_steps, shards=st.integers(min_value=1, max_value=4), kind=st.sampled_from([RuleEngine, CompiledEngine]))
def test_engines_sharded_by_series_give_exactly_the_transitions_of_one_engine(
    raw: list[tuple[Any, ...]], shards: int, kind: type[RuleEngine]
) -> None:
    """The reference engine alone against shards of the reference engine or of the compiled one the shards run."""
    steps = concrete(raw)
    placement = Placement(shards, SERIES)
    index, plans = RuleIndex(), {}
    for rule in RULES:
        plans[rule.rule_id] = compile_rule(rule)
        index.add(plans[rule.rule_id])
    one, sharded = engine(RULES), [engine(RULES, placement, n, kind) for n in range(shards)]
    expected: list[Transition] = []
    got: list[Transition] = []
    for kind, item in steps:
        if kind == "tick":
            expected += one.on_tick(item)
            for part in sharded:
                got += part.on_tick(item)
            continue
        expected += one.on_events([item])
        targets = placement.event_shards([plans[r] for r in index.candidates(item)], item)
        for shard in sorted(targets):
            got += sharded[shard].on_events([item])
    assert by_series(got) == by_series(expected)
    assert sorted(t.transition_id for t in got) == sorted(t.transition_id for t in expected)  # none twice


@settings(max_examples=100, deadline=None)
@given(raw=raw_steps, shards=st.integers(min_value=2, max_value=5))
def test_every_series_has_exactly_one_owner_and_its_events_reach_it(raw: list[tuple[Any, ...]], shards: int) -> None:
    placement = Placement(shards, SERIES)
    owners = [placement.owner(n) for n in range(shards)]
    plans = [compile_rule(rule) for rule in RULES]
    for kind, item in concrete(raw):
        if kind != "event":
            continue
        for plan in plans:
            if plan.rule.tenant != item.tenant:
                continue
            key = group_key_for(plan, item.payload)
            holders = [n for n, owns in enumerate(owners) if owns(plan.rule, key)]
            assert holders == [placement.series_shard(plan.rule, key)]
            assert holders[0] in placement.event_shards([plan], item)


def test_the_same_series_lands_on_the_same_shard_in_every_process() -> None:
    code = (
        "from services.common.domain.evaluation.sharding import Placement\n"
        "from tests.common.domain.kit import make_rule, metric\n"
        "grouped = make_rule(metric('cpu', group_by=['host']), 'r', tenant='acme')\n"
        "whole = make_rule(metric('cpu'), 'w', tenant='acme')\n"
        "print([Placement(7).series_shard(grouped, f'host=h{n}') for n in range(50)])\n"
        "print(Placement(7).series_shard(whole, ''))\n"
    )
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={"PYTHONHASHSEED": "123"}
    )
    grouped, whole = RULES[0], RULES[7]  # other rule ids, the same tenant, group key and topic
    assert (grouped.tenant, whole.tenant, whole.rule_id) == ("acme", "acme", "whole")
    here = [str([Placement(7).series_shard(grouped, f"host=h{n}") for n in range(50)])]
    assert other.stdout.splitlines() == [*here, str(Placement(7).series_shard(whole, ""))]


def test_rules_grouping_alike_share_the_shard_of_a_key_and_keys_spread_evenly() -> None:
    placement = Placement(4)
    cpu, memory = RULES[0], make_rule(metric("memory", group_by=["host"]), "mem", tenant="acme")
    keys = [f"host=h{n:04d}" for n in range(4000)]
    assert all(placement.series_shard(cpu, key) == placement.series_shard(memory, key) for key in keys)
    counts = Counter(placement.series_shard(cpu, key) for key in keys)
    assert len(counts) == 4 and all(abs(count - 1000) < 100 for count in counts.values()), counts
    other_tenant = make_rule(metric("cpu", group_by=["host"]), "x", tenant="beta")
    assert any(placement.series_shard(cpu, key) != placement.series_shard(other_tenant, key) for key in keys[:20])


def test_ungrouped_rules_sit_with_the_rules_of_their_topic_and_topics_spread() -> None:
    placement = Placement(8)
    rules = [make_rule(metric(f"m{n}", threshold=t), f"r{n}-{t}", tenant="acme") for n in range(64) for t in (1, 2)]
    pairs = zip(rules[::2], rules[1::2], strict=True)  # the two thresholds of one metric
    assert all(placement.series_shard(a, "") == placement.series_shard(b, "") for a, b in pairs)
    assert len({placement.series_shard(rule, "") for rule in rules}) == 8


def test_under_series_placement_every_shard_holds_every_rule() -> None:
    series, by_rule = Placement(3, SERIES), Placement(3, BY_RULE)
    assert series.rule_shards("r1") == (0, 1, 2) and all(series.holds("r1", n) for n in range(3))
    assert by_rule.rule_shards("r1") == (shard_for("r1", 3),)
    assert [by_rule.holds("r1", n) for n in range(3)] == [n == shard_for("r1", 3) for n in range(3)]
    assert by_rule.series_shard(RULES[0], "host=h1") == shard_for(RULES[0].rule_id, 3)  # all of a rule's series
    with pytest.raises(ValueError, match="unknown placement scheme"):
        Placement(2, "tenant")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Placement(0)


def bench_like(hosts: int = 50, metrics: int = 20) -> tuple[list[Rule], list[Event]]:
    """The benchmark's shape: per metric 5 thresholds and 5 windowed averages by host; one sample per event."""
    rules = [
        make_rule(metric(f"m{j}", threshold=80 + k, group_by=["host"], **window), f"m{j}-{k}-{bool(window)}")
        for j in range(metrics)
        for k in range(5)
        for window in ({}, {"aggregation": "avg", "window": f"{k + 1}m"})
    ]
    events = [
        Event(f"e{n}", "default", at(n), {"host": f"host-{n % hosts:03d}", f"m{(n // hosts) % metrics}": 40.0})
        for n in range(hosts * metrics)
    ]
    return rules, events


def test_shards_per_event_on_a_bench_like_rule_set() -> None:
    rules, events = bench_like()
    assert shards_per_event(rules, events, 1) == 1.0
    assert shards_per_event(rules, events, 4) == 1.0  # every rule groups by host: one shard per event
    assert shards_per_event(rules, events, 4, BY_RULE) > 3.5  # rule-id placement: nearly every shard
    spread = [len(part) for part in events_by_shard(rules, events, Placement(4))]
    assert sum(spread) == len(events) and min(spread) > len(events) / 8, spread
    assert shards_per_event(rules, [Event("x", "default", at(0), {"nothing": 1})], 4) == 0.0
