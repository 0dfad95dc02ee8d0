"""Simulate a draft rule over sample payloads with the real engine: verdicts, explanations, would-be actions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from services.common.domain.evaluation.evaluations import TriggerOutcome
from services.common.domain.evaluation.pattern_explanation import explain_pattern
from services.common.domain.evaluation.rule_engine import RuleEngine
from services.common.domain.events.model import Event, as_utc, event_time, format_time
from services.common.domain.lifecycle.transitions import Transition
from services.common.domain.notify.templates import TemplateError, render, template_context
from services.common.domain.patterns.spec import PatternTrigger
from services.common.domain.rules.model import Rule, RuleSpec
from services.common.domain.rules.summary import summarize


@dataclass(frozen=True)
class SimulationResult:
    """The outcome of a simulation; the top-level verdict describes the last payload."""

    matched: bool
    state: str
    event_id: str | None
    value: Any
    summary: str
    conditions: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    errors: list[str]
    results: list[dict[str, Any]] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    pattern: dict[str, Any] | None = None  # a pattern rule's explanation (pattern_explanation.py)

    def as_dict(self) -> dict[str, Any]:
        """The contract's simulate response, plus `state`, `event_id`, per-payload `results` and `transitions`,
        and for a pattern rule `pattern`: per key where each partial match stands, and a trace per payload."""
        extra = {} if self.pattern is None else {"pattern": self.pattern}
        return extra | {
            "matched": self.matched,
            "conditions": self.conditions,
            "actions": self.actions,
            "errors": self.errors,
            "state": self.state,
            "event_id": self.event_id,
            "value": self.value,
            "summary": self.summary,
            "results": self.results,
            "transitions": [t.as_dict() for t in self.transitions],
        }


def simulate(
    spec: RuleSpec,
    payloads: Sequence[Mapping[str, Any]],
    now: datetime,
    *,
    rule_id: str = "simulation",
    tenant: str = "default",
    version: int = 1,
) -> SimulationResult:
    """Run payloads in order through a fresh engine holding only this rule (as if active); send nothing.

    Each payload's event time is its `timestamp`, else `now`; its event type is its `event_type`. A payload
    without one counts as an occurrence of the rule's own type, as with a manual trigger.
    """
    now = as_utc(now)
    rule = _as_rule(spec, rule_id, tenant, version, now)
    engine = RuleEngine()
    engine.upsert_rule(rule)
    results: list[dict[str, Any]] = []
    transitions: list[Transition] = []
    last: tuple[Event, TriggerOutcome] | None = None
    taken: list[tuple[int, Event]] = []
    for index, payload in enumerate(payloads):
        event, error = _event(index, payload, tenant, now)
        if event is None:
            results.append(_failed(index, error))
            last = None
            continue
        outcome = engine.trigger(rule_id, event)
        transitions += outcome.transitions
        results.append(_result(index, outcome))
        last = (event, outcome)
        taken.append((index, event))
    result = _summarise(rule, results, transitions, last)
    if isinstance(rule.trigger_spec, PatternTrigger) and results:
        result = replace(result, pattern=explain_pattern(rule, taken))
    return result


def _summarise(
    rule: Rule,
    results: list[dict[str, Any]],
    transitions: list[Transition],
    last: tuple[Event, TriggerOutcome] | None,
) -> SimulationResult:
    if not results:
        results_errors = ["payloads: give at least one payload"]
        return SimulationResult(False, "no_match", None, None, summarize(rule), [], [], results_errors)
    final = results[-1]
    errors = list(final["errors"])
    actions: list[dict[str, Any]] = []
    if last is not None and last[1].matched:
        actions = _actions(rule, *last, errors)
    return SimulationResult(
        matched=final["matched"],
        state=final["state"],
        event_id=final["event_id"],
        value=final["value"],
        summary=summarize(rule),
        conditions=final["conditions"],
        actions=actions,
        errors=errors,
        results=results,
        transitions=transitions,
    )


def _as_rule(spec: RuleSpec, rule_id: str, tenant: str, version: int, now: datetime) -> Rule:
    fields = {name: getattr(spec, name) for name in RuleSpec.model_fields}
    return Rule.model_validate(
        {**fields, "active": True, "rule_id": rule_id, "tenant": tenant, "version": version}
        | {"created_at": now, "updated_at": now}
    )


def _event(index: int, payload: Any, tenant: str, now: datetime) -> tuple[Event | None, str]:
    if not isinstance(payload, Mapping):
        return None, f"payloads.{index}: a payload is a JSON object"
    try:
        at = event_time(payload, now)
    except ValueError as exc:
        return None, f"payloads.{index}.timestamp: {exc}"
    kind = payload.get("event_type")
    event = Event(f"simulation-{index}", tenant, at, payload, kind if isinstance(kind, str) else None, now)
    return event, ""


def _result(index: int, outcome: TriggerOutcome) -> dict[str, Any]:
    return {
        "index": index,
        "matched": outcome.matched,
        "state": outcome.state,
        "event_id": outcome.event_id,
        "value": outcome.value,
        "reason": outcome.reason,
        "conditions": outcome.explanation,
        "errors": outcome.errors,
    }


def _failed(index: int, error: str) -> dict[str, Any]:
    return {
        "index": index,
        "matched": False,
        "state": "no_match",
        "event_id": None,
        "value": None,
        "reason": "invalid payload",
        "conditions": [],
        "errors": [error],
    }


def _actions(rule: Rule, event: Event, outcome: TriggerOutcome, errors: list[str]) -> list[dict[str, Any]]:
    """The actions that would run, each message rendered as the notifier would; a template error is reported."""
    context = template_context(_event_view(rule, event, outcome), rule.canonical())
    actions = []
    for index, action in enumerate(rule.action_spec):
        rendered = None
        if action.message is not None:
            try:
                rendered = render(action.message, context)
            except TemplateError as exc:
                errors.append(f"action_spec.{index}.message: {exc.detail}")
        actions.append({"type": action.type, "channel": action.channel, "rendered_message": rendered})
    return actions


def _event_view(rule: Rule, event: Event, outcome: TriggerOutcome) -> dict[str, Any]:
    """The Event (as on /cep/events) the occurrence opened or would open once it fires."""
    opened = next((t for t in reversed(outcome.transitions) if t.kind in ("fired", "updated")), None)
    return {
        "event_id": outcome.event_id,
        "rule_id": rule.rule_id,
        "rule_name": rule.name,
        "tenant": rule.tenant,
        "trigger_type": rule.trigger_type,
        "severity": rule.severity,
        "priority": rule.priority,
        "status": "open",
        "fired_at": format_time(opened.started_at if opened else event.time),
        "last_seen": format_time(opened.last_seen if opened else event.time),
        "count": opened.count if opened else 1,
        "group_key": outcome.group_key,
        "summary": summarize(rule),
        "payload": dict(event.payload),
        "value": outcome.value,
    }
