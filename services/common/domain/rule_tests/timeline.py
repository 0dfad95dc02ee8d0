"""Run one test case: its inputs in time order through the reference rule engine, ticking at every interval.

Series samples and input events are fed in event-time order (at equal times, series samples first, then the events
in file order); after each step's inputs the engine's timers run (`on_tick`), so durations, `resolve_after` and
trailing negations happen at the times they would in the evaluator. A pattern rule the rule model does not accept
yet runs on the pattern matcher, advanced at the same steps. Along the way the run records, per rule, how it judged
every input it was a candidate for (the truth table) and, per pattern rule, the matcher's trace.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from services.common.domain.evaluation.rule_engine import RuleEngine
from services.common.domain.evaluation.rule_index import RuleIndex
from services.common.domain.events.model import Event
from services.common.domain.lifecycle.episodes import compile_rule
from services.common.domain.lifecycle.transitions import Transition, group_pairs
from services.common.domain.patterns.matcher import PatternMatcher
from services.common.domain.patterns.matches import TraceLine
from services.common.domain.rule_tests.suite import Case
from services.common.domain.rule_tests.tested_rules import TENANT, TestedRule
from services.common.domain.rules.errors import FieldError

MAX_STEPS = 100_000  # interval steps of one case: `interval: 1s` over a week is a typo, not a test


@dataclass
class Episode:
    """One event a rule opened during the run: when it fired, its counts over time, when it resolved."""

    event_id: str
    rule: str
    group_key: str
    labels: dict[str, str]
    fired_at: datetime
    counts: list[tuple[datetime, int]] = field(default_factory=list)
    resolved_at: datetime | None = None

    def status_at(self, at: datetime) -> str | None:
        """`open` or `resolved` at `at`; None before it fired."""
        if self.fired_at > at:
            return None
        return "resolved" if self.resolved_at is not None and self.resolved_at <= at else "open"

    def count_at(self, at: datetime) -> int:
        return max((count for time, count in self.counts if time <= at), default=1)


@dataclass(frozen=True)
class TruthRow:
    """How a rule judged one input: its conditions' results (`expr`, `result`, `value`) and the verdict."""

    time: datetime
    event_type: str | None
    group_key: str
    nodes: list[tuple[str, bool | None, Any]]
    state: str
    reason: str


@dataclass
class CaseRun:
    """What happened in a case: the episodes, the truth rows per rule, the trace and inputs per pattern rule."""

    start: datetime
    end: datetime
    episodes: list[Episode] = field(default_factory=list)
    truth: dict[str, list[TruthRow]] = field(default_factory=dict)
    traces: dict[str, list[TraceLine]] = field(default_factory=dict)
    inputs: list[Event] = field(default_factory=list)


def run_case(rules: Mapping[str, TestedRule], case: Case) -> CaseRun:
    """Feed the case's inputs and ticks to every rule; ValueError (a FieldError inside) for a case too long to run."""
    inputs = _inputs(case)
    start = case.time_of(case.start)
    moments = [c.at for c in case.expect] + [c.at for c in case.expect_none]
    marks = [case.time_of(at) for at in moments if at is not None]
    end = max([start, *(e.time for e in inputs), *marks])
    steps = int((end - start) / case.interval)
    if steps > MAX_STEPS:
        raise ValueError(FieldError(("interval",), f"the case spans {steps} intervals; at most {MAX_STEPS}"))
    checkpoints = sorted({*(start + i * case.interval for i in range(steps + 1)), *marks, end})
    run = CaseRun(start=start, end=end, inputs=inputs)
    engine, index = RuleEngine(), RuleIndex()
    # The engine runs every rule; each pattern rule also gets a matcher of its own, for its trace.
    matchers = {name: PatternMatcher(r.pattern, explain=True) for name, r in rules.items() if r.pattern is not None}
    for tested in rules.values():
        engine.upsert_rule(tested.rule, at=start)
        index.add(compile_rule(tested.rule))
    position = 0
    for mark in checkpoints:
        while position < len(inputs) and inputs[position].time <= mark:
            event = inputs[position]
            position += 1
            _judge(engine, index, rules, event, run)
            _record(run, engine.on_events([event]))
            for matcher in matchers.values():
                matcher.on_event(event.kind, event.payload, event.time)
        _record(run, engine.on_tick(mark))
        for matcher in matchers.values():
            matcher.advance(mark)
    for name, matcher in matchers.items():
        # A trailing negation fires once time is past its deadline D, dated D: its trace shows it at the end.
        matcher.advance(end + timedelta(microseconds=1))
        run.traces[name] = [] if matcher.trace is None else list(matcher.trace.lines)
    return run


def _inputs(case: Case) -> list[Event]:
    timed: list[tuple[datetime, int, Event]] = []
    start = case.time_of(case.start)
    for s, series in enumerate(case.input_series):
        name, labels = series.name_and_labels()
        for i, value in enumerate(series.samples()):
            if value is not None:
                at = start + i * case.interval
                payload = {**labels, "metric": name, "value": int(value) if value.is_integer() else value}
                timed.append((at, len(timed), Event(f"series-{s}-{i}", TENANT, at, payload)))
    for e, item in enumerate(case.input_events):
        at = case.time_of(item.at)
        timed.append((at, len(timed), Event(f"event-{e}", TENANT, at, dict(item.payload), item.type)))
    return [event for _, _, event in sorted(timed, key=lambda t: (t[0], t[1]))]


def _judge(engine: RuleEngine, index: RuleIndex, rules: Mapping[str, TestedRule], event: Event, run: CaseRun) -> None:
    """Record how each candidate rule judges the event, before the engine takes it (the same judgement)."""
    for name in sorted(index.candidates(event)):
        rule = rules[name].rule
        assert rule is not None  # only engine rules are indexed
        try:
            evaluation = engine.evaluate(rule, event)
        except Exception as exc:  # the engine isolates a rule that raises; its row says so
            row = TruthRow(event.time, event.kind, "", [], "error", f"the rule raised {type(exc).__name__}: {exc}")
        else:
            nodes = list(_flatten(evaluation.explanation))
            row = TruthRow(event.time, event.kind, evaluation.group_key, nodes, evaluation.state, evaluation.reason)
        run.truth.setdefault(name, []).append(row)


def _flatten(explanation: list[dict[str, Any]]) -> Any:
    for node in explanation:
        yield str(node.get("expr")), node.get("result"), node.get("value")
        yield from _flatten(node.get("conditions") or [])


def _record(run: CaseRun, transitions: list[Transition]) -> None:
    by_id = {e.event_id: e for e in run.episodes}
    for t in transitions:
        episode = by_id.get(t.event_id)
        if episode is None:
            labels = {**dict(group_pairs(t.group_key)), **t.labels}
            episode = by_id[t.event_id] = Episode(t.event_id, t.rule_name, t.group_key, labels, t.started_at)
            run.episodes.append(episode)
        episode.counts.append((t.at, t.count))
        if t.kind == "resolved":
            episode.resolved_at = t.at
