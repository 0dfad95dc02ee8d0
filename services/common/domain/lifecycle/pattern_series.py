"""The lifecycle of a pattern rule per correlation key: the key's partial matches, and the event a match opens.

Each (pattern rule, key `same` builds) holds a `PatternMatcher` of that key (patterns/matcher.py). An occurrence
goes to the matcher on its event time. A completed match opens one event (`fired`, dated at the match: its last
event, or the deadline of a trailing negation), whose payload is the contract's (`matched` per step plus the last
event's fields) and whose explanation is the matched chain; a later match while it is open is absorbed
(`updated`, count + 1, as an event rule's occurrences are). The event resolves `within` after its last match,
not notified.

Ticks are wall-clock times. A tick at T stands for the event time `T - lag`, where the lag is the largest
`arrival - event time` (never below 0) of the last events the held matches took: so a deadline D fires at
`arrival(e) + (D - time(e))`, never earlier, on the first tick after it (the contract's wall-clock fallback). A
tick moves the key's time only when a deadline or a held event has come, so an event slightly out of order that
arrives between them is still taken.

Late events (patterns/lateness.py): the key's events wait in a buffer until the watermark `newest - lateness`
reaches them, and go to the matcher in event-time order; one before the watermark is late, dropped and counted
(`late`). The matcher's time is the watermark, so matches are reported, and deadlines fire, `lateness` later in
event time. With a lateness of 0 (the default) nothing waits.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from services.common.domain.conditions.tree import Explanation
from services.common.domain.events.model import Event, format_time
from services.common.domain.lifecycle.episodes import (
    CompiledRule,
    Episode,
    Observation,
    State,
    episode_event_id,
    episode_labels,
    judge,
    make_transition,
)
from services.common.domain.lifecycle.transitions import Transition
from services.common.domain.patterns.lateness import LatenessBuffer
from services.common.domain.patterns.matcher import PatternMatcher
from services.common.domain.patterns.matches import Match
from services.common.domain.patterns.plan import PatternPlan
from services.common.domain.patterns.spec import PatternTrigger

SNAPSHOT_TYPE = "pattern"


class PatternSeries:
    """State of one (pattern rule, correlation key): its matcher, the arrival lags it needs, the open event."""

    def __init__(
        self, plan: CompiledRule, matcher: PatternMatcher | None = None, buffer: LatenessBuffer | None = None
    ) -> None:
        self.matcher = matcher if matcher is not None else _matcher(plan)
        # The key's events not yet released to the matcher (late events wait here); its newest time is the key's.
        self.buffer = buffer if buffer is not None else LatenessBuffer(plan.pattern_lateness, self.matcher.now)
        self.lags: dict[int, float] = {}  # input seq -> seconds from event time to arrival, of events still held
        self.episode: Episode | None = None
        self.reported = dict(self.matcher.counters)  # the counters already taken by `take_counts`

    @property
    def idle(self) -> bool:
        return self.episode is None and self.matcher.idle and self.buffer.empty and not self.unreported

    @property
    def unreported(self) -> dict[str, int]:
        """Counter increments (dropped by the cap, late, expired, cancelled) not yet taken by `take_counts`."""
        return {
            name: value - self.reported.get(name, 0)
            for name, value in self.matcher.counters.items()
            if value != self.reported.get(name, 0)
        }

    def take_counts(self) -> dict[str, int]:
        """The counter increments since the last call (the engine adds them to the rule's totals)."""
        found = self.unreported
        self.reported = dict(self.matcher.counters)
        return found

    def observe(self, plan: CompiledRule, key: str, event: Event) -> Observation:
        """Feed one occurrence to the matcher on its event time; each completed match opens or joins the event."""
        transitions = self._resolve_due(plan, key, event.time)
        explanation: list[dict[str, Any]] = []
        if plan.rule.conditions is not None:  # the rule's own conditions filter what reaches the steps
            judgement = judge(plan, Explanation(plan.expr, True, event.kind, path="trigger_spec"), event.payload)
            explanation = judgement.explanation
            if judgement.result is not True:
                reason = "evaluation error" if judgement.result is None else "condition false"
                return Observation(False, "no_match", None, event.kind, explanation, judgement.errors, reason)
        lag = None if event.received_at is None else max(0.0, (event.received_at - event.time).total_seconds())
        if not self.buffer.offer(event.kind, event.payload, event.time, lag, event.event_id):
            self.matcher.counters["late"] += 1  # counted as the matcher counts its own late events
            watermark = format_time(self.buffer.watermark) if self.buffer.watermark is not None else "?"
            reason = f"late: {format_time(event.time)} is before the key's watermark {watermark}"
            return Observation(False, "no_match", None, event.kind, explanation, [], reason, transitions)
        matches = self._release()
        for match, source_event_id in matches:
            transitions += self._open(plan, key, match, source_event_id)
        if matches:
            assert self.episode is not None
            event_id = episode_event_id(plan, key, self.episode)
            chain = self.episode.explanation  # the latest match's chain
            return Observation(True, "firing", event_id, event.kind, chain, [], "pattern matched", transitions)
        if self.matcher.idle and self.buffer.empty:
            state: State = "no_match"
            reason = "no partial match"
        elif self.matcher.idle:
            state, reason = "pending", "held until the key's watermark passes it (allowed lateness)"
        else:
            state, reason = "pending", "a partial match is under way"
        return Observation(False, state, None, event.kind, explanation, [], reason, transitions)

    def advance(self, plan: CompiledRule, key: str, now: datetime) -> list[Transition]:
        """A tick at wall-clock `now`: deadlines of trailing negations fire, expired partials go, the event resolves."""
        out: list[Transition] = []
        due = self._due()
        translated = now - timedelta(seconds=self._lag())
        if due is not None and due < translated:
            self.buffer.advance(translated)
            for match, source_event_id in self._release():
                out += self._open(plan, key, match, source_event_id)
        return out + self._resolve_due(plan, key, now)

    def next_deadline(self, plan: CompiledRule) -> datetime | None:
        """The earliest wall-clock time a tick has something to do (fire, expire or resolve)."""
        found = []
        due = self._due()
        if due is not None:
            # A tick fires what is strictly before its translated time: one microsecond later is the first tick.
            found.append(due + timedelta(seconds=self._lag(), microseconds=1))
        if self.episode is not None:
            found.append(self.episode.last_seen + _within(plan))
        return min(found, default=None)

    def close(self, plan: CompiledRule, key: str, at: datetime | None, reason: str) -> list[Transition]:
        """Resolve the open event (rule deactivated, changed or deleted); partial matches are dropped."""
        if self.episode is None:
            return []
        return self._resolve(
            plan, key, self.episode.last_seen if at is None else max(at, self.episode.last_seen), reason
        )

    def snapshot(self) -> dict[str, Any]:
        return {
            "type": SNAPSHOT_TYPE,
            "matcher": self.matcher.snapshot(),
            "buffer": self.buffer.snapshot(),
            "lags": {str(seq): lag for seq, lag in sorted(self.lags.items())},
            "episode": None if self.episode is None else self.episode.snapshot(),
            "reported": dict(self.reported),
        }

    @classmethod
    def restore(cls, plan: CompiledRule, data: dict[str, Any]) -> PatternSeries:
        trigger, pattern = _pattern(plan)
        matcher = PatternMatcher.restore(trigger, data["matcher"], plan=pattern, max_partials_per_key=_cap(plan))
        lateness = plan.pattern_lateness
        buffer = LatenessBuffer(lateness, matcher.now)  # a snapshot of before the buffer: nothing held
        if "buffer" in data:
            buffer = LatenessBuffer.restore(lateness, data["buffer"])
        series = cls(plan, matcher, buffer)
        series.lags = {int(seq): float(lag) for seq, lag in data["lags"].items()}
        series.episode = None if data["episode"] is None else Episode.restore(data["episode"])
        series.reported = {name: int(value) for name, value in data.get("reported", {}).items()}
        return series

    def _open(self, plan: CompiledRule, key: str, match: Match, source_event_id: str | None) -> list[Transition]:
        payload = match.payload()
        if self.episode is None:
            self.episode = Episode(
                started_at=match.at,
                rule_version=plan.rule.version,
                last_seen=match.at,
                payload=payload,
                value=None,
                explanation=match.explain(),
                source_event_id=source_event_id,
                labels=episode_labels(plan, payload),
            )
            why = "pattern matched" if match.deadline is None else f"no negated event by {format_time(match.at)}"
            return [make_transition(plan, key, self.episode, "fired", match.at, why)]
        episode = self.episode
        episode.count += 1
        if match.at >= episode.last_seen:
            episode.last_seen, episode.payload = match.at, payload
            episode.explanation, episode.source_event_id = match.explain(), source_event_id
        return [
            make_transition(
                plan, key, episode, "updated", match.at, "pattern matched again", notify=False, sequence=episode.count
            )
        ]

    def _resolve_due(self, plan: CompiledRule, key: str, now: datetime) -> list[Transition]:
        if self.episode is None or self.episode.last_seen + _within(plan) > now:
            return []
        at = self.episode.last_seen + _within(plan)
        return self._resolve(plan, key, at, f"no new match within {_pattern(plan)[0].within}")

    def _resolve(self, plan: CompiledRule, key: str, at: datetime, reason: str) -> list[Transition]:
        assert self.episode is not None
        transition = make_transition(plan, key, self.episode, "resolved", at, reason, notify=False)
        self.episode = None
        return [transition]

    def _release(self) -> list[tuple[Match, str | None]]:
        """Feed the matcher the held events the watermark has reached, in order, then move its time to the watermark.

        Each match comes with the id of the event the matcher read when it completed (None: a deadline passed)."""
        matches: list[tuple[Match, str | None]] = []
        for held in self.buffer.release():
            if held.lag is not None:
                self.lags[self.matcher.next_seq] = held.lag
            matches += [(m, held.event_id) for m in self.matcher.on_event(held.event_type, held.payload, held.time)]
        watermark = self.buffer.watermark
        if watermark is not None:
            matches += [(m, None) for m in self.matcher.advance(watermark)]
        self._prune_lags()
        return matches

    def _due(self) -> datetime | None:
        """The earliest key time (`newest`) at which something is to do: a held event to release, or a deadline
        of the matcher passed by the watermark (strictly: the caller acts on a time after it)."""
        deadline = self.matcher.next_deadline()
        found = [self.buffer.next_release(), None if deadline is None else deadline + self.buffer.lateness]
        return min((time for time in found if time is not None), default=None)

    def _lag(self) -> float:
        return max([*self.lags.values(), *self.buffer.lags()], default=0.0)

    def _prune_lags(self) -> None:
        held = self.matcher.last_seqs()
        if len(self.lags) > len(held):
            self.lags = {seq: lag for seq, lag in self.lags.items() if seq in held}


def _pattern(plan: CompiledRule) -> tuple[PatternTrigger, PatternPlan]:
    trigger, pattern = plan.rule.trigger_spec, plan.pattern
    assert isinstance(trigger, PatternTrigger) and pattern is not None, "a pattern rule's plan"
    return trigger, pattern


def _matcher(plan: CompiledRule) -> PatternMatcher:
    trigger, pattern = _pattern(plan)
    return PatternMatcher(trigger, plan=pattern, max_partials_per_key=_cap(plan))


def _cap(plan: CompiledRule) -> int:
    return plan.pattern_cap


def _within(plan: CompiledRule) -> timedelta:
    return _pattern(plan)[1].within
