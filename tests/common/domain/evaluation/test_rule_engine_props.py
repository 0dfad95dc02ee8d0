"""Engine properties: batching and snapshots never change the output; metric rules match a naive oracle."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from services.common.domain.evaluation.rule_engine import RuleEngine
from services.common.domain.events.model import SCHEDULE_EVENT_TYPE, Event, format_time
from services.common.domain.rules.model import Rule
from tests.common.domain.kit import T0, at, make_rule, metric

RULES: list[Rule] = [
    make_rule(metric(duration="1m", group_by=["host"], resolve_after="3m"), "pending"),
    make_rule(metric(aggregation="avg", window="1m", no_data_after="2m"), "windowed"),
    make_rule(metric(aggregation="p95", window="2m", recover_threshold=80, group_by=["host"]), "hysteresis"),
    make_rule(
        {
            "trigger_type": "event",
            "trigger_spec": {"event_type": "error", "group_by": ["host"], "resolve_after": "2m"},
            "conditions": {"field": "severity", "op": "in", "value": ["critical", "major"]},
        },
        "errors",
    ),
    make_rule({"trigger_type": "schedule", "trigger_spec": {"cron": "* * * * *"}}, "cron"),
    make_rule(
        {
            "trigger_type": "anomaly",
            "trigger_spec": {"value_path": "cpu_usage", "anomaly_method": "iqr", "threshold": 0.2, "min_baseline": 4},
        },
        "outliers",
    ),
]

# A step: ("cpu", delta seconds, host, value) | ("error", delta, host, severity) | ("run", delta) | ("tick", delta)
deltas = st.integers(min_value=-40, max_value=150)
hosts = st.sampled_from(["a", "b"])
raw_steps = st.lists(
    st.one_of(
        st.tuples(st.just("cpu"), deltas, hosts, st.integers(min_value=70, max_value=100)),
        st.tuples(st.just("error"), deltas, hosts, st.sampled_from(["critical", "major", "minor"])),
        st.tuples(st.just("run"), deltas),
        st.tuples(st.just("tick"), st.integers(min_value=0, max_value=400)),
    ),
    max_size=40,
)

Step = tuple[str, Any]  # ("event", Event) | ("tick", datetime)


def concrete(raw: list[tuple[Any, ...]]) -> list[Step]:
    """Turn drawn steps into events at a wandering clock (late ones included) and monotonic ticks."""
    clock, last_tick, steps = 0, 0, []
    for index, (kind, delta, *rest) in enumerate(raw):
        if kind == "tick":
            last_tick = max(last_tick, clock + delta)
            steps.append(("tick", at(last_tick)))
            continue
        clock += delta
        if kind == "cpu":
            payload: dict[str, Any] = {"cpu_usage": rest[1], "host": rest[0]}
            steps.append(("event", Event(f"e{index}", "default", at(clock), payload)))
        elif kind == "error":
            payload = {"severity": rest[1], "host": rest[0]}
            steps.append(("event", Event(f"e{index}", "default", at(clock), payload, "error")))
        else:
            payload = {"rule_id": "cron", "scheduled_at": at(clock).isoformat()}
            steps.append(("event", Event(f"e{index}", "default", at(clock), payload, SCHEDULE_EVENT_TYPE)))
    return steps


def engine_for(rules: list[Rule]) -> RuleEngine:
    engine = RuleEngine()
    for rule in rules:
        engine.upsert_rule(rule)
    return engine


def straight_run(steps: list[Step], rules: list[Rule] = RULES) -> list[dict[str, Any]]:
    engine, out = engine_for(rules), []
    for kind, item in steps:
        out += engine.on_events([item]) if kind == "event" else engine.on_tick(item)
    return [t.as_dict() for t in out]


@settings(max_examples=150, deadline=None)
@given(raw=raw_steps, cuts=st.lists(st.booleans(), min_size=40, max_size=40))
def test_any_batching_gives_the_same_transitions(raw: list[tuple[Any, ...]], cuts: list[bool]) -> None:
    steps = concrete(raw)
    engine, out, batch = engine_for(RULES), [], []
    for (kind, item), cut in zip(steps, cuts, strict=False):
        if kind == "tick":
            out += engine.on_events(batch) + engine.on_tick(item)
            batch = []
            continue
        batch.append(item)
        if cut:
            out += engine.on_events(batch)
            batch = []
    out += engine.on_events(batch)
    assert [t.as_dict() for t in out] == straight_run(steps)


@settings(max_examples=150, deadline=None)
@given(raw=raw_steps, restarts=st.sets(st.integers(min_value=0, max_value=40), max_size=4))
def test_snapshot_and_restore_anywhere_gives_the_same_transitions(
    raw: list[tuple[Any, ...]], restarts: set[int]
) -> None:
    steps = concrete(raw)
    engine, out = engine_for(RULES), []
    for index, (kind, item) in enumerate(steps):
        if index in restarts:
            engine = RuleEngine.restore(json.loads(json.dumps(engine.snapshot(), allow_nan=False)), RULES)
        out += engine.on_events([item]) if kind == "event" else engine.on_tick(item)
    assert [t.as_dict() for t in out] == straight_run(steps)


@settings(max_examples=150, deadline=None)
@given(raw=raw_steps, points=st.sets(st.integers(min_value=0, max_value=40), min_size=2, max_size=6))
def test_snapshots_of_one_live_engine_each_restore_to_the_same_continuation(
    raw: list[tuple[Any, ...]], points: set[int]
) -> None:
    """Several snapshots of the same running engine (each re-encoding only the series changed since the last)."""
    steps = concrete(raw)
    engine, per_step, taken = engine_for(RULES), [], {}
    for index, (kind, item) in enumerate(steps):
        if index in points:
            taken[index] = json.dumps(engine.snapshot(), allow_nan=False)
        per_step.append([t.as_dict() for t in (engine.on_events([item]) if kind == "event" else engine.on_tick(item))])
    for index, data in taken.items():
        restored, out = RuleEngine.restore(json.loads(data), RULES), []
        for kind, item in steps[index:]:
            out += restored.on_events([item]) if kind == "event" else restored.on_tick(item)
        assert [t.as_dict() for t in out] == [t for step in per_step[index:] for t in step]


ORACLE_RULES = [
    make_rule(metric(recover_threshold=80, group_by=["host"], resolve_after="2m"), "raw"),
    make_rule(metric(aggregation="avg", window="1m"), "avg"),
]
WINDOW = 60.0
RESOLVE_AFTER = 120.0


@dataclass
class NaiveSeries:
    firing: bool = False
    newest: float | None = None
    started: datetime | None = None
    samples: list[tuple[float, float]] = field(default_factory=list)


def oracle(steps: list[Step]) -> list[tuple[str, str, str, datetime]]:
    """Metric rules without duration, recomputed the long way: every accepted sample kept forever."""
    series: dict[tuple[str, str], NaiveSeries] = {}
    out: list[tuple[str, str, str, datetime]] = []

    def expire(rule_id: str, key: str, now: float) -> None:
        state = series[(rule_id, key)]
        if rule_id == "raw" and state.firing and state.newest is not None and state.newest + RESOLVE_AFTER <= now:
            out.append(("resolved", rule_id, key, max(at(state.newest + RESOLVE_AFTER), state.started or T0)))
            state.firing = False

    for kind, item in steps:
        if kind == "tick":
            now = (item - T0).total_seconds()
            for rule_id, key in sorted(series):
                expire(rule_id, key, now)
            continue
        if "cpu_usage" not in item.payload:
            continue
        t, value = (item.time - T0).total_seconds(), item.payload["cpu_usage"]
        for rule_id in ("avg", "raw"):
            key = f"host={item.payload['host']}" if rule_id == "raw" else ""
            state = series.setdefault((rule_id, key), NaiveSeries())
            expire(rule_id, key, t)
            if rule_id == "raw":
                if state.newest is not None and t < state.newest:
                    continue
                state.newest = t
                holds = value > (80 if state.firing else 85)
            else:
                if state.newest is not None and t <= state.newest - WINDOW:
                    continue
                state.samples.append((t, value))
                state.newest = t if state.newest is None else max(state.newest, t)
                inside = [v for s, v in state.samples if s > state.newest - WINDOW]
                holds = math.fsum(inside) / len(inside) > 85
            if holds != state.firing:
                state.firing, when = holds, at(state.newest)
                if holds and state.started is not None and when <= state.started:
                    when = state.started + timedelta(microseconds=1)  # two episodes at one instant
                if holds:
                    state.started = when
                out.append(("fired" if holds else "resolved", rule_id, key, max(when, state.started or when)))
    return out


@settings(max_examples=200, deadline=None)
@given(raw=raw_steps)
@example(raw=[("cpu", 0, "a", 90), ("cpu", 0, "a", 75), ("cpu", 0, "a", 90), ("cpu", 0, "a", 75)])
@example(raw=[("cpu", 30, "a", 99), ("cpu", -10, "a", 10), ("cpu", 5, "a", 99), ("cpu", -2, "a", 1)])
def test_metric_rules_without_duration_match_the_oracle(raw: list[tuple[Any, ...]]) -> None:
    steps = concrete(raw)
    got = [(t["kind"], t["rule_id"], t["group_key"], t["at"]) for t in straight_run(steps, ORACLE_RULES)]
    expected = [(kind, rule_id, key, format_time(when)) for kind, rule_id, key, when in oracle(steps)]
    assert got == expected
