"""The lifecycle of a schedule rule: every run is its own episode, `fired` then `resolved` at its time.

An event of type `cep.schedule` whose payload `rule_id` is the rule's is one run, keyed by the payload's
`scheduled_at`; runs are never absorbed into one another, and the series keeps no state.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.common.domain.conditions.tree import Explanation
from services.common.domain.events.model import SCHEDULE_EVENT_TYPE, Event, format_time, parse_time
from services.common.domain.lifecycle.episodes import (
    CompiledRule,
    Episode,
    Observation,
    episode_event_id,
    episode_labels,
    judge,
    make_transition,
)
from services.common.domain.lifecycle.transitions import Transition


class ScheduleSeries:
    """Schedule runs keep no state: each run opens and resolves its own episode."""

    idle = True

    def observe(self, plan: CompiledRule, key: str, event: Event) -> Observation:
        """Turn one `cep.schedule` event of this rule into a run: `fired` then `resolved` at `scheduled_at`."""
        is_run = event.kind == SCHEDULE_EVENT_TYPE and event.payload.get("rule_id") == plan.rule_id
        scheduled_at, error = _scheduled_at(event)
        result = None if is_run and error else is_run
        node = Explanation(plan.expr, result, format_time(scheduled_at), error, path="trigger_spec")
        judgement = judge(plan, node, event.payload)
        if judgement.result is not True:
            reason = "evaluation error" if judgement.result is None else "not a run of this rule"
            return Observation(False, "no_match", None, node.value, judgement.explanation, judgement.errors, reason)
        episode = Episode(
            started_at=scheduled_at,
            rule_version=plan.rule.version,
            last_seen=scheduled_at,
            payload=dict(event.payload),
            value=None,
            explanation=judgement.explanation,
            source_event_id=event.event_id,
            labels=episode_labels(plan, {}),  # a run has no group key: the rule's labels only
        )
        transitions = [
            make_transition(plan, key, episode, "fired", scheduled_at, f"scheduled run at {format_time(scheduled_at)}"),
            make_transition(plan, key, episode, "resolved", scheduled_at, "run complete", notify=False),
        ]
        event_id = episode_event_id(plan, key, episode)
        return Observation(
            True, "firing", event_id, node.value, judgement.explanation, [], "scheduled run", transitions
        )

    def advance(self, plan: CompiledRule, key: str, now: datetime) -> list[Transition]:
        return []

    def next_deadline(self, plan: CompiledRule) -> datetime | None:
        return None

    def close(self, plan: CompiledRule, key: str, at: datetime | None, reason: str) -> list[Transition]:
        return []

    def snapshot(self) -> dict[str, Any]:
        return {"type": "schedule"}


def _scheduled_at(event: Event) -> tuple[datetime, str | None]:
    raw = event.payload.get("scheduled_at")
    if raw is None:
        return event.time, None
    if not isinstance(raw, str):
        return event.time, "scheduled_at must be an RFC 3339 string"
    try:
        return parse_time(raw), None
    except ValueError as exc:
        return event.time, str(exc)
