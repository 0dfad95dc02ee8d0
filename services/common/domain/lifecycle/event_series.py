"""The lifecycle of an event rule per group key: occurrences open, join and resolve one episode.

The first matching occurrence opens an episode (`fired`, count 1); later matching occurrences while it is open
are absorbed (`updated`, count + 1, last_seen, payload = the latest by event time). It resolves `resolve_after`
(default 5m) after its last occurrence: on a tick, or when a later occurrence comes after the gap (the old
episode resolves at last_seen + resolve_after, then a new one opens). The resolution is notified only with
`notify_resolved`.

The built-in rule of posted alerts (posted_alerts/builtin_rule.py) differs in when an episode ends: at the `endsAt`
of its latest occurrence instead of `resolve_after`, and at once on an occurrence whose `endsAt` is already past
(such an occurrence opens nothing and is not counted).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.common.domain.conditions.tree import Explanation
from services.common.domain.events.model import Event
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
from services.common.domain.posted_alerts.builtin_rule import ends_at
from services.common.domain.rules.triggers import EventTrigger


class EventSeries:
    """State of one (event rule, group key): the open episode, if any."""

    def __init__(self) -> None:
        self.episode: Episode | None = None

    @property
    def idle(self) -> bool:
        return self.episode is None

    def observe(self, plan: CompiledRule, key: str, event: Event) -> Observation:
        """Open, absorb into, or ignore one occurrence; an episode past its resolve_after resolves first."""
        transitions = self.advance(plan, key, event.time)
        if plan.posted_alerts and _has_ended(event):
            return self._ended(plan, key, event, transitions)
        trigger = plan.rule.trigger_spec
        assert isinstance(trigger, EventTrigger)
        kind = event.kind
        node = Explanation(plan.expr, kind == trigger.event_type, kind, path="trigger_spec.event_type")
        judgement = judge(plan, node, event.payload)
        if judgement.result is not True:
            reason = "evaluation error" if judgement.result is None else "condition false"
            return Observation(
                False, "no_match", None, kind, judgement.explanation, judgement.errors, reason, transitions
            )
        if self.episode is None:
            self.episode = Episode(
                started_at=event.time,
                rule_version=plan.rule.version,
                last_seen=event.time,
                payload=dict(event.payload),
                value=None,
                explanation=judgement.explanation,
                source_event_id=event.event_id,
                labels=episode_labels(plan, event.payload),
            )
            transitions.append(make_transition(plan, key, self.episode, "fired", event.time, "first occurrence"))
            reason = "opened an event"
        else:
            episode = self.episode
            episode.count += 1
            if event.time >= episode.last_seen:
                episode.last_seen, episode.payload = event.time, dict(event.payload)
                episode.explanation, episode.source_event_id = judgement.explanation, event.event_id
            transitions.append(
                make_transition(
                    plan,
                    key,
                    episode,
                    "updated",
                    event.time,
                    "occurrence absorbed",
                    notify=False,
                    sequence=episode.count,
                )
            )
            reason = "joined the open event"
        event_id = episode_event_id(plan, key, self.episode)
        return Observation(True, "firing", event_id, kind, judgement.explanation, judgement.errors, reason, transitions)

    def advance(self, plan: CompiledRule, key: str, now: datetime) -> list[Transition]:
        """Resolve the open episode when `resolve_after` has passed since its last occurrence."""
        deadline = self.next_deadline(plan)
        if deadline is None or deadline > now:
            return []
        resolve_after = getattr(plan.rule.trigger_spec, "resolve_after", "")
        if plan.posted_alerts and self.episode is not None and ends_at(self.episode.payload) is not None:
            return self._resolve(plan, key, deadline, "endsAt reached without a re-send")
        return self._resolve(plan, key, deadline, f"resolve_after {resolve_after} without occurrences")

    def _ended(self, plan: CompiledRule, key: str, event: Event, transitions: list[Transition]) -> Observation:
        """A posted alert whose `endsAt` is past: it resolves the open episode now, and opens nothing."""
        if self.episode is None:
            reason = "the alert has ended (endsAt is past): no open event"
            return Observation(False, "no_match", None, event.kind, [], [], reason, transitions)
        event_id = episode_event_id(plan, key, self.episode)
        at = max(event.time, self.episode.last_seen)
        transitions += self._resolve(plan, key, at, "resolved by the sender (endsAt is past)")
        return Observation(True, "no_match", event_id, event.kind, [], [], "resolved the open event", transitions)

    def next_deadline(self, plan: CompiledRule) -> datetime | None:
        if self.episode is not None and plan.posted_alerts:
            posted_end = ends_at(self.episode.payload)
            if posted_end is not None:
                return max(posted_end, self.episode.last_seen)
        if self.episode is None or plan.resolve_after is None:
            return None
        return self.episode.last_seen + plan.resolve_after

    def close(self, plan: CompiledRule, key: str, at: datetime | None, reason: str) -> list[Transition]:
        """Resolve the open episode (rule deactivated, changed or deleted)."""
        if self.episode is None:
            return []
        return self._resolve(
            plan, key, self.episode.last_seen if at is None else max(at, self.episode.last_seen), reason
        )

    def _resolve(self, plan: CompiledRule, key: str, at: datetime, reason: str) -> list[Transition]:
        assert self.episode is not None
        notify = bool(getattr(plan.rule.trigger_spec, "notify_resolved", False))
        transition = make_transition(plan, key, self.episode, "resolved", at, reason, notify=notify)
        self.episode = None
        return [transition]

    def snapshot(self) -> dict[str, Any]:
        return {"type": "event", "episode": None if self.episode is None else self.episode.snapshot()}

    @classmethod
    def restore(cls, data: dict[str, Any]) -> EventSeries:
        series = cls()
        series.episode = None if data["episode"] is None else Episode.restore(data["episode"])
        return series


def _has_ended(event: Event) -> bool:
    end = ends_at(event.payload)
    return end is not None and end <= event.time
