"""The compiled engine against the reference: random rule sets and streams must give identical transitions.

Rules draw every option of the metric trigger (each aggregation and window, duration, group_by, resolve_after,
no_data_after, recover_threshold, conditions), beside event rules (absorption, resolve_after), pattern rules (over
`error` events: counts, conditions, a trailing negation, relaxed and any), anomaly rules, inactive rules, three
tenants and small series quotas; streams mix samples (missing, non-numeric, numeric text,
`{"metric", "value"}` events, late ones), ticks, rule edits and deletions, and snapshot-restores of the compiled
engine. Rules carry labels (some colliding with a group-by path or a rule field) and edits change them. Both engines
must agree on transitions (their labels included), rule failures, quota refusals and their snapshots (mid-stream,
which reuse what earlier ones cached, and final).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, reject, settings, target
from hypothesis import strategies as st

from services.common.domain.evaluation.compiled.engine import CompiledEngine
from services.common.domain.evaluation.rule_engine import RuleEngine
from services.common.domain.evaluation.series_capture import SeriesCapture
from services.common.domain.events.model import Event
from services.common.domain.quotas.series_quota import SeriesLimits, SeriesQuotas
from services.common.domain.rules.errors import RuleValidationError
from services.common.domain.rules.model import Rule
from tests.common.domain.kit import at, make_rule

TENANTS = ("t1", "t2", "t3")
METRICS = ("cpu", "mem", "disk.used")
HOSTS = ("a", "b")

durations = st.sampled_from([None, "0s", "20s", "1m", "3m"])
timeouts = st.sampled_from([None, None, None, "1m", "3m"])  # resolve_after, no_data_after
tenants = st.sampled_from(("t1", "t1", "t1", *TENANTS))
group_bys = st.sampled_from([None, ["host"], ["dc"], ["host", "dc"], ["missing"]])
numbers = st.integers(min_value=0, max_value=12) | st.sampled_from([2.5, 7.25])

leaves = st.one_of(
    st.builds(
        lambda f, op, v: {"field": f, "op": op, "value": v},
        st.sampled_from(["cpu", "mem", "host", "dc", "severity"]),
        st.sampled_from(["==", "!=", ">", ">=", "<", "<="]),
        st.sampled_from([3, 7.5, "a", "b", "crit"]),
    ),
    st.builds(lambda f, v: {"field": f, "op": "in", "value": v}, st.sampled_from(["host", "dc"]), st.just(["a", "x"])),
    st.builds(lambda f: {"field": f, "op": "exists"}, st.sampled_from(["dc", "severity", "nope"])),
    st.builds(lambda p: {"field": "host", "op": "regex", "value": p}, st.sampled_from(["^a", "b|c"])),
    st.just({"field": "tags", "op": "contains", "value": "x"}),
)
conditions = (
    st.none()
    | st.none()
    | st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.builds(
                lambda lo, cs: {"logic": lo, "conditions": cs},
                st.sampled_from(["AND", "OR"]),
                st.lists(inner, min_size=1, max_size=3),
            ),
            st.builds(lambda c: {"logic": "NOT", "conditions": [c]}, inner),
        ),
        max_leaves=4,
    )
)


@st.composite
def metric_bodies(draw: st.DrawFn) -> dict[str, Any]:
    trigger: dict[str, Any] = {
        "metric_name": draw(st.sampled_from(METRICS)),
        "operator": draw(st.sampled_from([">", ">=", "<", "<=", "==", "!="])),
        "threshold": draw(numbers),
    }
    aggregation = draw(st.sampled_from([None, "avg", "sum", "min", "max", "count", "p95", "rate"]))
    if aggregation is not None:
        trigger |= {"aggregation": aggregation, "window": draw(st.sampled_from(["0s", "30s", "1m", "2m"]))}
    optional = {
        "duration": durations,
        "group_by": group_bys,
        "resolve_after": timeouts,
        "no_data_after": timeouts,
        "recover_threshold": st.none() | numbers,
    }
    for name, values in optional.items():
        value = draw(values)
        if value is not None:
            trigger[name] = value
    return {"trigger_type": "metric", "trigger_spec": trigger, "conditions": draw(conditions)}


event_bodies = st.builds(
    lambda group_by, after, notify, cond: {
        "trigger_type": "event",
        "trigger_spec": {
            "event_type": "error",
            "group_by": group_by,
            "resolve_after": after,
            "notify_resolved": notify,
        },
        "conditions": cond,
    },
    group_bys,
    st.sampled_from(["30s", "2m"]),
    st.booleans(),
    conditions,
)
anomaly_bodies = st.builds(
    lambda method, group_by: {
        "trigger_type": "anomaly",
        "trigger_spec": {
            "value_path": "cpu",
            "anomaly_method": method,
            "threshold": 1.0 if method != "zscore" else 2.0,
            "min_baseline": 4,
            "group_by": group_by,
        },
    },
    st.sampled_from(["zscore", "iqr", "ema"]),
    group_bys,
)
pattern_bodies = st.builds(
    lambda times, last, same, contiguity: {
        "trigger_type": "pattern",
        "trigger_spec": {
            "steps": [
                {"name": "first", "event_type": "error", "times": {"min": times}},
                {"name": "last", "event_type": "error", **last},
            ],
            "within": "1m",
            "same": same,
            "contiguity": contiguity,
        },
    },
    st.integers(1, 2),
    st.sampled_from([{}, {"conditions": {"field": "dc", "op": "==", "value": "y"}}, {"negate": True}]),
    st.sampled_from([None, ["host"]]),
    st.sampled_from(["relaxed", "any"]),
)
bodies = st.one_of(metric_bodies(), metric_bodies(), metric_bodies(), event_bodies, anomaly_bodies, pattern_bodies)
# A rule label may collide with a group-by path (`host`) or a rule field (`severity`): the precedence decides.
rule_labels = st.sampled_from([{}, {}, {"team": "sre"}, {"host": "fixed", "severity": "override"}])


@st.composite
def rule_sets(draw: st.DrawFn) -> list[Rule]:
    rules = []
    for index, body in enumerate(draw(st.lists(bodies, min_size=1, max_size=6))):
        try:
            body = {**body, "labels": draw(rule_labels)}
            rules.append(make_rule(body, f"r{index}", active=draw(st.booleans() | st.just(True)), tenant=draw(tenants)))
        except (ValueError, RuleValidationError):
            reject()  # an option pair the contract refuses
    return rules


samples = st.one_of(numbers, numbers, st.sampled_from(["8", " 3.5 ", "high", None, True]))
payloads = st.fixed_dictionaries(
    {"host": st.sampled_from(HOSTS), "dc": st.sampled_from(["x", "y"])},
    optional={
        "cpu": samples,
        "mem": samples,
        "disk.used": samples,
        "severity": st.just("crit"),
        "tags": st.just(["x"]),
    },
)
raw_steps = st.lists(
    st.one_of(
        st.tuples(st.just("sample"), st.integers(-90, 120), tenants, payloads),
        st.tuples(st.just("sample"), st.integers(0, 40), tenants, payloads),
        st.tuples(st.just("sample"), st.integers(0, 20), st.just("t1"), payloads),
        st.tuples(st.just("named"), st.integers(0, 60), tenants, st.sampled_from(METRICS), numbers),
        st.tuples(st.just("error"), st.integers(0, 60), tenants, payloads),
        st.tuples(st.just("tick"), st.integers(0, 400)),
        st.tuples(st.just("edit"), st.integers(0, 5), st.booleans()),
        st.tuples(
            st.just("restore"),
        ),
        st.tuples(st.just("snapshot")),
    ),
    min_size=3,
    max_size=60,
)


def _event(index: int, seconds: int, tenant: str, payload: dict[str, Any], kind: str | None = None) -> Event:
    flat = {key: value for key, value in payload.items() if key != "disk.used"}
    return Event(f"e{index}", tenant, at(seconds), flat | _nested(payload), kind)


def _nested(payload: dict[str, Any]) -> dict[str, Any]:
    """`disk.used` is a dotted path: its sample lives at payload["disk"]["used"]."""
    return {"disk": {"used": payload["disk.used"]}} if "disk.used" in payload else {}


def _run(
    rules: list[Rule], raw: list[tuple[Any, ...]], limits: SeriesLimits, lateness: timedelta = timedelta(0)
) -> tuple[list[Any], ...]:
    reference, compiled = RuleEngine(quotas=SeriesQuotas(limits)), CompiledEngine(quotas=SeriesQuotas(limits))
    reference.pattern_lateness = compiled.pattern_lateness = lateness  # pattern events may come late (sample steps)
    held = {rule.rule_id: rule for rule in rules}
    for rule in rules:
        assert reference.upsert_rule(rule) == compiled.upsert_rule(rule) == []
    expected: list[dict[str, Any]] = []
    got: list[dict[str, Any]] = []
    kept: list[dict[str, Any]] = []  # (reference, compiled) snapshots taken mid-stream, in pairs
    # The compiled engine's mid-stream snapshots are captured and finished later, as a shard's are: its series go on
    # changing in between, and the capture must still be the snapshot of its moment.
    unfinished: list[tuple[dict[str, Any], SeriesCapture, CompiledEngine]] = []

    def finish() -> None:
        for expected_now, capture, engine in unfinished:
            kept.extend([expected_now, capture.finish()])
            engine.remember(capture)
        unfinished.clear()

    clock = tick = 0
    # Failures and refusals of (reference, compiled), taken from both at every restore (a restore starts a new ledger)
    taken: list[list[Any]] = [[], [], [], []]
    for index, (kind, *rest) in enumerate(raw):
        if kind == "tick":
            tick = max(tick, clock + rest[0])
            expected += [t.as_dict() for t in reference.on_tick(at(tick))]
            got += [t.as_dict() for t in compiled.on_tick(at(tick))]
            continue
        if kind == "snapshot":  # taken mid-stream, so the next one reuses what it cached of series left alone
            finish()
            unfinished.append((reference.snapshot(), compiled.capture_snapshot(), compiled))
            continue
        if kind == "restore":
            finish()
            data = json.loads(json.dumps(compiled.snapshot(), allow_nan=False))
            _take(taken, reference, compiled)
            rules_now, quotas = list(held.values()), SeriesQuotas(limits)
            compiled = CompiledEngine.restore(data, rules_now, quotas=quotas, pattern_lateness=lateness)
            continue
        if kind == "edit":
            rule_id, delete = f"r{rest[0]}", rest[1]
            if rule_id not in held:
                continue
            when = at(clock)
            if delete:
                del held[rule_id]
                expected += [t.as_dict() for t in reference.remove_rule(rule_id, when)]
                got += [t.as_dict() for t in compiled.remove_rule(rule_id, when)]
            else:
                old = held[rule_id]
                # A label edit keeps the series: open episodes keep the labels they opened with.
                changes = {"active": not old.active, "version": old.version + 1, "labels": {"edit": str(index)}}
                held[rule_id] = edited = old.model_copy(update=changes)
                expected += [t.as_dict() for t in reference.upsert_rule(edited, when)]
                got += [t.as_dict() for t in compiled.upsert_rule(edited, when)]
            continue
        clock += rest[0]
        tenant = rest[1]
        if kind == "named":
            event = Event(f"e{index}", tenant, at(clock), {"metric": rest[2], "value": rest[3], "host": "a"})
        else:
            event = _event(index, clock, tenant, rest[2], "error" if kind == "error" else None)
        expected += [t.as_dict() for t in reference.on_events([event])]
        got += [t.as_dict() for t in compiled.on_events([event])]
    finish()
    _take(taken, reference, compiled)
    return expected, got, (taken[0], taken[1]), (taken[2], taken[3]), [*kept, reference.snapshot(), compiled.snapshot()]


def _take(taken: list[list[Any]], reference: RuleEngine, compiled: RuleEngine) -> None:
    taken[0] += reference.take_failures()
    taken[1] += compiled.take_failures()
    taken[2] += reference.take_refusals()
    taken[3] += compiled.take_refusals()


limits = st.builds(
    SeriesLimits, per_rule=st.sampled_from([1, 2, 100, 100]), per_tenant=st.sampled_from([2, 3, 100, 100])
)


latenesses = st.sampled_from([timedelta(0), timedelta(0), timedelta(seconds=5), timedelta(seconds=30)])


def check(rules: list[Rule], raw: list[tuple[Any, ...]], quota: SeriesLimits, lateness: timedelta) -> None:
    expected, got, failures, refusals, snapshots = _run(rules, raw, quota, lateness)
    target(float(len(expected)))  # steer towards streams that move many series
    assert got == expected
    assert all(t["labels"]["alertname"] == t["rule_name"] for t in expected)  # every transition carries its labels
    assert failures[1] == failures[0]
    assert refusals[1] == refusals[0]
    assert snapshots[1::2] == snapshots[0::2]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(rules=rule_sets(), raw=raw_steps, quota=limits, lateness=latenesses)
def test_the_compiled_engine_gives_the_reference_transitions(
    rules: list[Rule], raw: list[tuple[Any, ...]], quota: SeriesLimits, lateness: timedelta
) -> None:
    check(rules, raw, quota, lateness)


@pytest.mark.slow
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(rules=rule_sets(), raw=raw_steps, quota=limits, lateness=latenesses)
def test_the_compiled_engine_gives_the_reference_transitions_at_length(
    rules: list[Rule], raw: list[tuple[Any, ...]], quota: SeriesLimits, lateness: timedelta
) -> None:
    check(rules, raw, quota, lateness)
