"""The alert lifecycle per (rule, group key), scenario by scenario: events and ticks in, transitions out."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.common.domain.evaluation.rule_engine import RuleEngine
from services.common.domain.events.model import SCHEDULE_EVENT_TYPE
from services.common.domain.lifecycle.transitions import Transition
from tests.common.domain.kit import T0, Step, at, brief, event, make_rule, metric, run


def cpu(seconds: float, value: Any, **labels: Any) -> Step:
    return ("event", event(seconds, {"cpu_usage": value, **labels}))


def tick(seconds: float) -> Step:
    return ("tick", seconds)


def scenario(body: dict[str, Any], steps: list[Step]) -> list[tuple[str, str, float, str]]:
    engine = RuleEngine()
    engine.upsert_rule(make_rule(body))
    return brief(run(engine, steps))


METRIC_SCENARIOS: list[tuple[str, dict[str, Any], list[Step], list[tuple[str, str, float, str]]]] = [
    (
        "no duration: fire on the first true sample, no update while firing, resolve when false",
        metric(),
        [cpu(0, 92), cpu(10, 95), cpu(20, 50), cpu(30, 40)],
        [("fired", "", 0, "threshold crossed"), ("resolved", "", 20, "condition false")],
    ),
    (
        "duration: pending, then fired by a tick at the deadline",
        metric(duration="5m"),
        [cpu(0, 92), cpu(60, 93), tick(299), tick(300), tick(900)],
        [("fired", "", 300, "duration 5m elapsed")],
    ),
    (
        "duration: a false sample before the deadline cancels the pending",
        metric(duration="5m"),
        [cpu(0, 92), cpu(120, 50), tick(400), cpu(500, 90), tick(700)],
        [],
    ),
    (
        "duration without ticks: the deadline is run before the next sample, at the deadline",
        metric(duration="5m"),
        [cpu(0, 92), cpu(400, 50)],
        [("fired", "", 300, "duration 5m elapsed"), ("resolved", "", 400, "condition false")],
    ),
    (
        "late ticks give the deadline's time, not the tick's",
        metric(duration="1m"),
        [cpu(0, 92), tick(3600)],
        [("fired", "", 60, "duration 1m elapsed")],
    ),
    (
        "hysteresis: stays firing above recover_threshold, resolves once the value crosses it",
        metric(recover_threshold=80),
        [cpu(0, 92), cpu(10, 83), cpu(20, 81), cpu(30, 80), cpu(40, 86)],
        [
            ("fired", "", 0, "threshold crossed"),
            ("resolved", "", 30, "value crossed recover_threshold 80"),
            ("fired", "", 40, "threshold crossed"),
        ],
    ),
    (
        "resolve_after without samples, checked on ticks",
        metric(resolve_after="2m"),
        [cpu(0, 92), cpu(30, 99), tick(149), tick(150)],
        [("fired", "", 0, "threshold crossed"), ("resolved", "", 150, "resolve_after 2m without samples")],
    ),
    (
        "resolve_after found by a later sample: resolve at the deadline, then fire again",
        metric(resolve_after="2m"),
        [cpu(0, 92), cpu(600, 95)],
        [
            ("fired", "", 0, "threshold crossed"),
            ("resolved", "", 120, "resolve_after 2m without samples"),
            ("fired", "", 600, "threshold crossed"),
        ],
    ),
    (
        "no_data_after opens a no-data episode; the next sample resolves it",
        metric(no_data_after="1m"),
        [cpu(0, 50), tick(59), tick(60), tick(3600), cpu(90, 50)],
        [("fired", "", 60, "no data for 1m"), ("resolved", "", 90, "data received")],
    ),
    (
        "group_by: one series per group key",
        metric(group_by=["host"]),
        [cpu(0, 92, host="a"), cpu(1, 93, host="b"), cpu(2, 10, host="a"), cpu(3, 10, host="c")],
        [
            ("fired", "host=a", 0, "threshold crossed"),
            ("fired", "host=b", 1, "threshold crossed"),
            ("resolved", "host=a", 2, "condition false"),
        ],
    ),
    (
        "a raw sample older than the newest of its series is refused",
        metric(),
        [cpu(10, 92), cpu(5, 10), cpu(20, 95)],
        [("fired", "", 10, "threshold crossed")],
    ),
    (
        "a missing metric or a non-number changes nothing",
        metric(),
        [cpu(0, 92), ("event", event(5, {"cpu_usage": "n/a"})), ("event", event(6, {"cpu_usage": None}))],
        [("fired", "", 0, "threshold crossed")],
    ),
    (
        "numeric strings are numbers, as shell scripts send them",
        metric(),
        [cpu(0, "92"), cpu(1, "12.5")],
        [("fired", "", 0, "threshold crossed"), ("resolved", "", 1, "condition false")],
    ),
    (
        "windowed average: fires when the average crosses, evaluated on every sample",
        metric(aggregation="avg", window="1m"),
        [cpu(0, 70), cpu(10, 95), cpu(20, 100), cpu(100, 70)],  # 82.5, 88.3, then only 70
        [("fired", "", 20, "threshold crossed"), ("resolved", "", 100, "condition false")],
    ),
    (
        "windowed: a late sample within the window counts, at the series' newest time",
        metric(aggregation="max", window="1m"),
        [cpu(30, 10), cpu(0, 99), cpu(-40, 99)],
        [("fired", "", 30, "threshold crossed")],
    ),
    (
        "rate of a counter with a reset",
        metric(metric_name="requests", threshold=1, aggregation="rate", window="5m"),
        [
            ("event", event(0, {"requests": 100})),
            ("event", event(10, {"requests": 105})),  # 0.5/s
            ("event", event(20, {"requests": 30})),  # reset: +30 -> 35/20 s
        ],
        [("fired", "", 20, "threshold crossed")],
    ),
    (
        "conditions are ANDed with the trigger, on the sample's payload",
        {**metric(), "conditions": {"field": "env", "op": "==", "value": "prod"}},
        [cpu(0, 92, env="dev"), cpu(1, 92, env="prod"), cpu(2, 92, env="dev")],
        [("fired", "", 1, "threshold crossed"), ("resolved", "", 2, "condition false")],
    ),
    (
        "an unknown condition keeps a firing series firing",
        {**metric(), "conditions": {"field": "env", "op": "==", "value": "prod"}},
        [cpu(0, 92, env="prod"), cpu(1, 92)],
        [("fired", "", 0, "threshold crossed")],
    ),
    (
        "an unknown condition cancels a pending one",
        {**metric(duration="1m"), "conditions": {"field": "env", "op": "==", "value": "prod"}},
        [cpu(0, 92, env="prod"), cpu(30, 92), tick(120)],
        [],
    ),
]


@pytest.mark.parametrize(
    ("body", "steps", "expected"), [case[1:] for case in METRIC_SCENARIOS], ids=[case[0] for case in METRIC_SCENARIOS]
)
def test_metric_lifecycle(body: dict[str, Any], steps: list[Step], expected: list[Any]) -> None:
    assert scenario(body, steps) == expected


def error(seconds: float, severity: str = "critical", **extra: Any) -> Step:
    return ("event", event(seconds, {"severity": severity, **extra}, "error"))


EVENT_RULE = {
    "trigger_type": "event",
    "trigger_spec": {"event_type": "error"},
    "conditions": {"field": "severity", "op": "==", "value": "critical"},
}

EVENT_SCENARIOS: list[tuple[str, dict[str, Any], list[Step], list[tuple[str, str, float, str]]]] = [
    (
        "open, absorb, resolve after the default 5m",
        EVENT_RULE,
        [error(0), error(60), error(61, "warning"), tick(359), tick(360)],
        [
            ("fired", "", 0, "first occurrence"),
            ("updated", "", 60, "occurrence absorbed"),
            ("resolved", "", 360, "resolve_after 5m without occurrences"),
        ],
    ),
    (
        "an occurrence after the gap resolves the old episode at last_seen + resolve_after, then opens one",
        EVENT_RULE,
        [error(0), error(1000)],
        [
            ("fired", "", 0, "first occurrence"),
            ("resolved", "", 300, "resolve_after 5m without occurrences"),
            ("fired", "", 1000, "first occurrence"),
        ],
    ),
    (
        "group_by: one episode per fingerprint",
        {**EVENT_RULE, "trigger_spec": {"event_type": "error", "group_by": ["service"], "resolve_after": "1m"}},
        [error(0, service="api"), error(1, service="db"), error(2, service="api"), tick(62)],
        [
            ("fired", "service=api", 0, "first occurrence"),
            ("fired", "service=db", 1, "first occurrence"),
            ("updated", "service=api", 2, "occurrence absorbed"),
            ("resolved", "service=db", 61, "resolve_after 1m without occurrences"),
            ("resolved", "service=api", 62, "resolve_after 1m without occurrences"),
        ],
    ),
    (
        "other event types never match",
        EVENT_RULE,
        [("event", event(0, {"severity": "critical"}, "deploy"))],
        [],
    ),
]


@pytest.mark.parametrize(
    ("body", "steps", "expected"), [case[1:] for case in EVENT_SCENARIOS], ids=[case[0] for case in EVENT_SCENARIOS]
)
def test_event_lifecycle(body: dict[str, Any], steps: list[Step], expected: list[Any]) -> None:
    transitions = scenario(body, steps)
    assert sorted(transitions, key=lambda t: t[2]) == expected


def test_event_episode_counts_and_keeps_the_latest_payload() -> None:
    engine = RuleEngine()
    engine.upsert_rule(make_rule(EVENT_RULE))
    fired, updated, later = run(engine, [error(0, n=1), error(50, n=3), error(20, n=2)])
    assert fired.count == 1 and updated.count == 2 and later.count == 3
    assert later.last_seen == at(50) and later.payload == {"severity": "critical", "n": 3}  # latest by event time
    assert fired.event_id == updated.event_id == later.event_id
    assert len({fired.transition_id, updated.transition_id, later.transition_id}) == 3
    assert fired.notify and not updated.notify


@pytest.mark.parametrize(("notify_resolved", "notify"), [(False, False), (True, True)])
def test_event_resolution_is_notified_only_when_asked(notify_resolved: bool, notify: bool) -> None:
    engine = RuleEngine()
    engine.upsert_rule(
        make_rule({**EVENT_RULE, "trigger_spec": {"event_type": "error", "notify_resolved": notify_resolved}})
    )
    *_, resolved = run(engine, [error(0), tick(600)])
    assert resolved.kind == "resolved" and resolved.notify is notify


def run_of(rule_id: str, scheduled_at: str | None, seconds: float = 0) -> Step:
    payload: dict[str, Any] = {"rule_id": rule_id}
    if scheduled_at is not None:
        payload["scheduled_at"] = scheduled_at
    return ("event", event(seconds, payload, SCHEDULE_EVENT_TYPE))


def test_schedule_runs_are_their_own_episodes() -> None:
    engine = RuleEngine()
    engine.upsert_rule(make_rule({"trigger_type": "schedule", "trigger_spec": {"cron": "*/5 * * * *"}}))
    steps = [
        run_of("r1", "2024-05-01T12:00:00Z", 1),
        run_of("other", "2024-05-01T12:00:00Z", 1),
        run_of("r1", "2024-05-01T12:05:00Z", 301),
        run_of("r1", None, 601),
    ]
    transitions = run(engine, steps)
    assert brief(transitions) == [
        ("fired", "", 0, "scheduled run at 2024-05-01T12:00:00Z"),
        ("resolved", "", 0, "run complete"),
        ("fired", "", 300, "scheduled run at 2024-05-01T12:05:00Z"),
        ("resolved", "", 300, "run complete"),
        ("fired", "", 601, "scheduled run at 2024-05-01T12:10:01Z"),
        ("resolved", "", 601, "run complete"),
    ]
    assert len({t.event_id for t in transitions}) == 3
    assert [t.notify for t in transitions[:2]] == [True, False]


def test_missing_metric_path_is_an_evaluation_error_and_changes_nothing() -> None:
    engine = RuleEngine()
    engine.upsert_rule(make_rule(metric(metric_name="host.cpu")))
    before = engine.snapshot()
    outcome = engine.trigger("r1", event(0, {"host": {"mem": 5}}))
    assert not outcome.matched and outcome.state == "no_match"
    assert outcome.errors == ["trigger_spec: metric 'host.cpu' not found in payload"]
    assert outcome.explanation[0]["result"] is None
    assert engine.snapshot()["rules"].get("r1", {}).get("series", {}).get("", {}).get("newest") is None
    assert before["rules"] == {}


def test_transition_carries_the_explanation_value_and_ids() -> None:
    engine = RuleEngine()
    engine.upsert_rule(make_rule({**metric(group_by=["host"]), "severity": "high", "priority": "P1"}))
    (fired,) = engine.on_events([event(0, {"cpu_usage": 92, "host": "gt-01"}, event_id="src-1")])
    assert fired.value == 92 and fired.source_event_id == "src-1"
    assert fired.explanation == [{"expr": "cpu_usage > 85", "result": True, "value": 92, "path": "trigger_spec"}]
    assert (fired.severity, fired.priority, fired.rule_name, fired.summary) == (
        "high",
        "P1",
        "r1",
        "cpu_usage > 85 by host",
    )
    assert fired.started_at == fired.at == fired.last_seen == T0 and fired.count == 1
    assert len(fired.transition_id) == len(fired.event_id) == len(fired.fingerprint) == 32
    assert fired.transition_id != fired.event_id


def test_episodes_of_one_series_never_share_an_id() -> None:
    engine = RuleEngine()
    engine.upsert_rule(make_rule(metric()))
    # samples at one instant open and close two episodes: the second starts a microsecond later
    transitions = run(engine, [cpu(0, 90), cpu(0, 10), cpu(0, 95), cpu(0, 5)])
    assert [t.kind for t in transitions] == ["fired", "resolved", "fired", "resolved"]
    assert len({t.transition_id for t in transitions}) == 4 and len({t.event_id for t in transitions}) == 2
    assert transitions[2].started_at == at(0.000001) and transitions[3].at == transitions[2].started_at


def test_transitions_round_trip_through_json() -> None:
    engine = RuleEngine()
    engine.upsert_rule(make_rule({**metric(group_by=["host"]), "conditions": {"field": "env", "op": "exists"}}))
    outcome = engine.trigger("r1", event(0.25, {"cpu_usage": 92, "host": "gt-01", "env": "prod"}))
    (fired,) = outcome.transitions
    data = json.loads(json.dumps(fired.as_dict(), allow_nan=False))
    assert data["at"] == "2024-05-01T12:00:00.250000Z" and data["group_key"] == "host=gt-01"
    assert Transition.from_dict(data) == fired
    assert json.loads(json.dumps(outcome.as_dict()))["transitions"] == [data]


def test_a_resolution_shows_the_sample_that_ended_it() -> None:
    engine = RuleEngine()
    engine.upsert_rule(make_rule(metric()))
    fired, resolved = run(engine, [cpu(0, 92), cpu(5, 97), cpu(10, 50)])
    assert (fired.value, resolved.value, resolved.count) == (92, 50, 2)
    assert resolved.payload == {"cpu_usage": 50} and resolved.explanation[0]["result"] is False
