"""What every alert series shares: the compiled rule, the open episode, observations and transition building."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from services.common.domain.anomaly.detectors.refit import RefitExecutor
from services.common.domain.conditions.tree import Explanation, combine, evaluate
from services.common.domain.events.model import Event, format_time, parse_time
from services.common.domain.labels.event_labels import event_labels
from services.common.domain.labels.label_set import normalize
from services.common.domain.lifecycle.transitions import (
    Transition,
    episode_id,
    fingerprint,
    group_key_of,
    transition_id,
)
from services.common.domain.patterns.matcher import DEFAULT_MAX_PARTIALS_PER_KEY
from services.common.domain.patterns.plan import PatternPlan, plan_of
from services.common.domain.patterns.spec import PatternTrigger
from services.common.domain.posted_alerts.builtin_rule import is_builtin_rule, posted_labels
from services.common.domain.rules.durations import parse_duration
from services.common.domain.rules.model import Rule
from services.common.domain.rules.paths import MISSING, lookup
from services.common.domain.rules.summary import summarize, trigger_expr

State = Literal["firing", "pending", "no_match"]


@dataclass(frozen=True)
class CompiledRule:
    """A rule with its durations parsed and texts rendered once, instead of on every event."""

    rule: Rule
    semantics: str
    expr: str
    summary: str
    group_by: tuple[str, ...]
    duration: timedelta | None
    window: float | None
    resolve_after: timedelta | None
    no_data_after: timedelta | None
    executor: RefitExecutor | None = field(default=None, compare=False, repr=False)  # anomaly model refits
    posted_alerts: bool = False  # the tenant's built-in rule of posted alerts (posted_alerts/builtin_rule.py)
    pattern: PatternPlan | None = field(default=None, compare=False, repr=False)  # a pattern rule's compiled steps
    pattern_cap: int = DEFAULT_MAX_PARTIALS_PER_KEY  # partial matches per correlation key (patterns/matcher.py)
    # How late a pattern rule's event may be, within its key (patterns/lateness.py): the setting, at most `within`.
    pattern_lateness: timedelta = timedelta(0)

    @property
    def rule_id(self) -> str:
        return self.rule.rule_id


def compile_rule(
    rule: Rule,
    executor: RefitExecutor | None = None,
    pattern_cap: int = DEFAULT_MAX_PARTIALS_PER_KEY,
    pattern_lateness: timedelta = timedelta(0),
) -> CompiledRule:
    """Prepare a rule for evaluation; `semantics` changes only when what the rule matches changes.

    `executor` runs its anomaly models' refits (inline when None: backtests, NAB, dry runs); `pattern_cap` bounds
    a pattern rule's partial matches per correlation key; `pattern_lateness` how late its events may be, capped at
    the rule's `within` as a window's samples are at one window length.
    """
    trigger = rule.trigger_spec
    pattern = plan_of(trigger) if isinstance(trigger, PatternTrigger) else None
    lateness = min(pattern_lateness, pattern.within) if pattern is not None else timedelta(0)
    return CompiledRule(
        rule=rule,
        semantics=semantics_of(rule),
        expr=trigger_expr(rule),
        summary=summarize(rule),
        # A pattern's correlation key (`same`) is its group key.
        group_by=tuple(getattr(trigger, "group_by", None) or getattr(trigger, "same", None) or ()),
        duration=_delta(getattr(trigger, "duration", None)),
        window=_seconds(getattr(trigger, "window", None)),
        resolve_after=_delta(getattr(trigger, "resolve_after", None)),
        no_data_after=_delta(getattr(trigger, "no_data_after", None)),
        executor=executor,
        posted_alerts=is_builtin_rule(rule),
        pattern=pattern,
        pattern_cap=pattern_cap,
        pattern_lateness=lateness,
    )


def semantics_of(rule: Rule) -> str:
    """A digest of what decides matching (trigger and conditions); names, actions and severity do not count."""
    canonical = rule.canonical()
    text = json.dumps([canonical["trigger_type"], canonical["trigger_spec"], canonical["conditions"]], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def group_key_for(plan: CompiledRule, payload: Mapping[str, Any]) -> str:
    """The group key of a payload under the rule's group_by; a path missing from the payload groups as ''."""
    values = [lookup(payload, path) for path in plan.group_by]
    return group_key_of(list(plan.group_by), ["" if value is MISSING else value for value in values])


def episode_labels(plan: CompiledRule, payload: Mapping[str, Any]) -> dict[str, str]:
    """The labels of an episode opened on this payload: the rule's, then its group key values (event_labels.py).

    Computed once, when the episode opens; a group-by path missing from the payload gives no label. A posted
    alert's episode has exactly the posted labels.
    """
    if plan.posted_alerts:
        return normalize(posted_labels(payload))
    rule = plan.rule
    values = [lookup(payload, path) for path in plan.group_by]
    return event_labels(
        rule_name=rule.name,
        severity=rule.severity,
        priority=rule.priority,
        rule_labels=rule.labels,
        group_by=plan.group_by,
        group_values=["" if value is MISSING else value for value in values],
    )


def _delta(text: str | None) -> timedelta | None:
    seconds = _seconds(text)
    return None if seconds is None else timedelta(seconds=seconds)


def _seconds(text: str | None) -> float | None:
    return None if text is None else parse_duration(text)


@dataclass
class Episode:
    """The open episode of a series: when it started, how often it occurred, its latest occurrence, its labels."""

    started_at: datetime
    rule_version: int
    last_seen: datetime
    payload: Mapping[str, Any]
    value: Any
    explanation: list[dict[str, Any]]
    source_event_id: str | None
    count: int = 1
    no_data: bool = False
    labels: dict[str, str] = field(default_factory=dict)  # fixed when it opens (episode_labels)

    def snapshot(self) -> dict[str, Any]:
        return {
            "started_at": format_time(self.started_at),
            "rule_version": self.rule_version,
            "last_seen": format_time(self.last_seen),
            "payload": dict(self.payload),
            "value": self.value,
            "explanation": self.explanation,
            "source_event_id": self.source_event_id,
            "count": self.count,
            "no_data": self.no_data,
            "labels": dict(self.labels),
        }

    @classmethod
    def restore(cls, data: Mapping[str, Any]) -> Episode:
        values = dict(data)
        values["started_at"] = parse_time(values["started_at"])
        values["last_seen"] = parse_time(values["last_seen"])
        return cls(**values)


@dataclass
class Observation:
    """What one occurrence did to a series: the verdict, its explanation, and the transitions it caused."""

    matched: bool
    state: State
    event_id: str | None
    value: Any
    explanation: list[dict[str, Any]]
    errors: list[str]
    reason: str
    transitions: list[Transition] = field(default_factory=list)


@dataclass(frozen=True)
class Judgement:
    """The trigger node AND the conditions tree, in three-valued logic, with every node explained."""

    result: bool | None
    explanation: list[dict[str, Any]]
    errors: list[str]


def judge(
    plan: CompiledRule, trigger: Explanation, payload: Mapping[str, Any], extra: Mapping[str, Any] | None = None
) -> Judgement:
    """Combine the trigger's verdict with the rule's conditions; both are explained, trigger first.

    `extra` adds fields to the trigger node's JSON (an anomaly's score and details).
    """
    nodes = [trigger]
    if plan.rule.conditions is not None:
        nodes.append(evaluate(plan.rule.conditions, payload))
    result = combine("AND", [node.result for node in nodes])
    errors = [error for node in nodes for error in node.errors()]
    explanation = [node.as_dict() for node in nodes]
    explanation[0].update(extra or {})
    return Judgement(result, explanation, errors)


class Series(Protocol):
    """The lifecycle of one (rule, group key); events and ticks drive it, it answers with transitions."""

    def observe(self, plan: CompiledRule, key: str, event: Event) -> Observation: ...

    def advance(self, plan: CompiledRule, key: str, now: datetime) -> list[Transition]: ...

    def close(self, plan: CompiledRule, key: str, at: datetime | None, reason: str) -> list[Transition]: ...

    def next_deadline(self, plan: CompiledRule) -> datetime | None: ...

    def snapshot(self) -> dict[str, Any]: ...

    @property
    def idle(self) -> bool: ...


def episode_event_id(plan: CompiledRule, key: str, episode: Episode) -> str:
    """The id of the event on /cep/events that this episode is."""
    return episode_id(plan.rule.tenant, plan.rule_id, episode.rule_version, key, episode.started_at)


def make_transition(
    plan: CompiledRule,
    key: str,
    episode: Episode,
    kind: Literal["fired", "updated", "resolved"],
    at: datetime,
    reason: str,
    *,
    notify: bool = True,
    sequence: int = 0,
) -> Transition:
    """Build a transition of an episode; its id depends only on the series, the episode start and the kind."""
    rule = plan.rule
    return Transition(
        transition_id=transition_id(
            rule.tenant, rule.rule_id, episode.rule_version, key, episode.started_at, kind, sequence
        ),
        kind=kind,
        tenant=rule.tenant,
        rule_id=rule.rule_id,
        rule_version=episode.rule_version,
        rule_name=rule.name,
        severity=rule.severity,
        priority=rule.priority,
        trigger_type=rule.trigger_type,
        event_id=episode_event_id(plan, key, episode),
        fingerprint=fingerprint(rule.tenant, rule.rule_id, key),
        group_key=key,
        at=at,
        started_at=episode.started_at,
        count=episode.count,
        last_seen=episode.last_seen,
        payload=episode.payload,
        value=episode.value,
        explanation=episode.explanation,
        summary=plan.summary,
        source_event_id=episode.source_event_id,
        reason=reason,
        notify=notify,
        labels=episode.labels,
    )
