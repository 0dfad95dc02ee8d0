"""The pattern matcher: per correlation key, a set of partial matches advanced event by event (an NFA).

Feed it events in event-time order with `on_event`; tell it that time has passed with `advance(now)` (by event
time, or by the wall clock translated into event time when the stream is silent). Both return the matches
completed. The semantics (contiguity, quantifiers, negation, skip strategies, `within`) are stated in
docs/patterns.md, and tests/common/domain/patterns/oracle.py enumerates them by brute force.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from services.common.domain.patterns.matches import Match, Trace, TraceLine, match_of
from services.common.domain.patterns.partials import Partial, Taken, started
from services.common.domain.patterns.plan import PatternPlan, StepTest, plan_of
from services.common.domain.patterns.spec import PatternTrigger

DEFAULT_MAX_PARTIALS_PER_KEY = 1_000  # the cap per correlation key: past it the oldest partial is dropped
MAX_PARTIALS_PER_KEY = 100_000  # the largest cap a caller may set
SNAPSHOT_VERSION = 1
_ANY = "kept as well: any contiguity may pass over an event it could take"


class PatternMatcher:
    """The partial matches of one pattern rule, per correlation key, with their deadlines and counters."""

    def __init__(
        self,
        trigger: PatternTrigger,
        *,
        max_partials_per_key: int = DEFAULT_MAX_PARTIALS_PER_KEY,
        explain: bool = False,
        plan: PatternPlan | None = None,
    ) -> None:
        """`plan`: the trigger already compiled (`plan_of(trigger)`), shared by the matchers of one rule."""
        if not 1 <= max_partials_per_key <= MAX_PARTIALS_PER_KEY:
            raise ValueError(f"max_partials_per_key is from 1 to {MAX_PARTIALS_PER_KEY}")
        self.plan: PatternPlan = plan if plan is not None else plan_of(trigger)
        self.cap = max_partials_per_key
        self.trace: Trace | None = Trace() if explain else None
        self.now: datetime | None = None
        self.counters = {"dropped": 0, "expired": 0, "late": 0, "cancelled": 0}
        self._seq = 0
        self._next_id = 0
        self._keys: dict[str, list[Partial]] = {}
        self._due: list[tuple[datetime, str]] = []  # (earliest deadline of the key, key); stale entries skipped
        self._scheduled: dict[str, datetime] = {}
        self._names = tuple(step.name for step in self.plan.positives)

    def on_event(self, event_type: str | None, payload: Mapping[str, Any], time: datetime) -> list[Match]:
        """Advance time to the event's, then let every partial of its key take it, branch, keep or drop it."""
        if self.now is not None and time < self.now:
            self.counters["late"] += 1
            self._note(None, None, None, "ignored", f"late: {time.isoformat()} is before {self.now.isoformat()}")
            return []
        out = self.advance(time)
        seq, self._seq = self._seq, self._seq + 1
        if event_type not in self.plan.event_types:
            self._note(seq, None, None, "ignored", f"no step has the event type {event_type!r}")
            return out
        key = self.plan.key_of(payload)
        if key is None:
            self._note(seq, None, None, "ignored", f"a `same` path is missing: {list(self.plan.trigger.same or [])}")
            return out
        event = Taken(seq=seq, time=time, event_type=event_type, payload=payload)
        kept: list[Partial] = []
        completed: list[Partial] = []
        for partial in self._keys.pop(key, []):
            self._step(partial, event, key, kept, completed)
        head = self.plan.positives[0]
        if head.accepts(event_type, payload):
            fresh = started(self._ident(), len(self.plan.positives), event)
            self._note(seq, key, fresh.ident, "started", f"took it as {head.name} #1", head.name, 1)
            self._place(fresh, kept, completed)
        elif self.trace is not None:
            self._note(seq, key, None, "ignored", f"starts no match: {head.refusal(event_type, payload)}")
        out.extend(self._settle(key, kept, completed, event))
        return out

    def advance(self, now: datetime) -> list[Match]:
        """Time is now `now`: fire trailing negations whose deadline has passed, expire partials past `within`.

        The matches come in the order of their deadline, then key, then events.
        """
        if self.now is not None and now <= self.now:
            return []
        self.now = now
        out: list[Match] = []
        while self._due and self._due[0][0] < now:
            deadline, key = heapq.heappop(self._due)
            if self._scheduled.get(key) == deadline:
                del self._scheduled[key]
                out.extend(self._sweep(key, now))
        # The heap's history differs after a restore; the order of the report does not.
        return sorted(out, key=lambda m: (m.at, m.key, m.positions))

    @property
    def idle(self) -> bool:
        """Whether no partial or waiting match is held (the counters aside)."""
        return not self._keys

    @property
    def next_seq(self) -> int:
        """The input sequence number the next event will get."""
        return self._seq

    def next_deadline(self) -> datetime | None:
        """The earliest time at which `advance` past it may fire or expire something (it may be early, never late)."""
        return min(self._scheduled.values(), default=None)

    def last_seqs(self) -> set[int]:
        """The sequence numbers of the last events the partial and waiting matches took."""
        return {p.last.seq for partials in self._keys.values() for p in partials}

    def partials(self) -> dict[str, list[dict[str, Any]]]:
        """Per key, where each partial match stands: step reached, count, first event time, deadline."""
        return {
            key: [
                {
                    "id": p.ident,
                    "step": self._names[p.step],
                    "count": p.count,
                    "waiting": p.waiting,
                    "blocked": p.blocked,
                    "first_time": p.first.time.isoformat(),
                    "deadline": self._deadline(p).isoformat(),
                }
                for p in partials
            ]
            for key, partials in sorted(self._keys.items())
        }

    def snapshot(self) -> dict[str, Any]:
        """The whole state as JSON-ready data; `restore` of it continues exactly where this matcher is."""
        return {
            "version": SNAPSHOT_VERSION,
            "now": None if self.now is None else self.now.isoformat(),
            "seq": self._seq,
            "next_id": self._next_id,
            "counters": dict(self.counters),
            "keys": {key: [p.as_dict() for p in partials] for key, partials in sorted(self._keys.items())},
        }

    @classmethod
    def restore(cls, trigger: PatternTrigger, data: Mapping[str, Any], **options: Any) -> PatternMatcher:
        """A matcher in the state of a snapshot (the trigger is the rule's, not part of the snapshot)."""
        if data.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"unknown pattern snapshot version {data.get('version')!r}")
        matcher = cls(trigger, **options)
        matcher.now = None if data["now"] is None else datetime.fromisoformat(data["now"])
        matcher._seq, matcher._next_id = int(data["seq"]), int(data["next_id"])
        matcher.counters.update({name: int(value) for name, value in data["counters"].items()})
        for key, partials in data["keys"].items():
            matcher._store(key, [Partial.from_dict(p) for p in partials])
        return matcher

    # one partial and one event

    def _step(self, partial: Partial, event: Taken, key: str, kept: list[Partial], completed: list[Partial]) -> None:
        event_type, payload = event.event_type, event.payload
        if partial.waiting:
            trailing = self.plan.trailing
            if trailing is not None and trailing.accepts(event_type, payload):
                self.counters["cancelled"] += 1
                self._note(event.seq, key, partial.ident, "cancelled", f"negated step {trailing.name} occurred")
            else:
                kept.append(partial)
            return
        i, count = partial.step, partial.count
        here, last = self.plan.positives[i], i + 1 == len(self.plan.positives)
        after = None if last else self.plan.positives[i + 1]
        took = False
        if (here.max is None or count < here.max) and here.accepts(event_type, payload):
            took = self._branch(partial, i, event, key, kept, completed)
        if after is not None and count >= here.min and not partial.blocked and after.accepts(event_type, payload):
            took = self._branch(partial, i + 1, event, key, kept, completed)
        contiguity = self.plan.trigger.contiguity
        if contiguity == "strict" or (contiguity == "relaxed" and took):
            if not took:
                self._note(event.seq, key, partial.ident, "dropped", "strict: " + self._why_not(partial, event))
            return
        negation = None if last else self.plan.negations[i]
        if negation is not None and negation.accepts(event_type, payload) and not partial.blocked:
            partial = replace(partial, blocked=True)
            self._note(event.seq, key, partial.ident, "blocked", f"negated step {negation.name} occurred")
        elif self.trace is not None:
            self._note(event.seq, key, partial.ident, "kept", self._why_not(partial, event) if not took else _ANY)
        kept.append(partial)

    def _branch(
        self, partial: Partial, step: int, event: Taken, key: str, kept: list[Partial], completed: list[Partial]
    ) -> bool:
        taken = partial.take(self._ident(), step, event)
        if self.trace is not None:
            reason = f"from {partial.ident}: took it as {self._names[step]} #{taken.count}"
            self._note(event.seq, key, taken.ident, "advanced", reason)
        self._place(taken, kept, completed)
        return True

    def _place(self, partial: Partial, kept: list[Partial], completed: list[Partial]) -> None:
        """A partial whose last step reached its minimum is complete, or waits for its trailing negation."""
        if partial.step + 1 < len(self.plan.positives) or partial.count < self.plan.positives[-1].min:
            kept.append(partial)
        elif self.plan.trailing is not None:
            kept.append(replace(partial, waiting=True))
        else:
            completed.append(partial)

    # matches, skip strategies, deadlines, the cap

    def _settle(self, key: str, kept: list[Partial], completed: list[Partial], event: Taken) -> list[Match]:
        out: list[Match] = []
        discarded: set[int] = set()
        for partial in sorted(completed, key=lambda p: p.positions):
            if partial.ident not in discarded:
                out.append(match_of(partial, key, self._names, event.time, None))
                self._note(event.seq, key, partial.ident, "completed", f"matched {list(partial.positions)}")
                discarded.update(p.ident for p in completed if self._discards(partial, p))
                kept = [p for p in kept if not self._discards(partial, p)]
        if len(kept) > self.cap:
            oldest = sorted(kept, key=lambda p: (p.first.seq, p.ident))[: len(kept) - self.cap]
            self.counters["dropped"] += len(oldest)
            gone = {p.ident for p in oldest}
            kept = [p for p in kept if p.ident not in gone]
            self._note(event.seq, key, None, "dropped", f"cap of {self.cap} partials per key: {len(gone)} oldest")
        self._store(key, kept)
        return out

    def _discards(self, match: Partial, other: Partial) -> bool:
        """Whether a reported match discards another partial of its key (itself included).

        past_last discards those that began at or before its last event, to_next those that began with its first.
        """
        if self.plan.trigger.skip == "past_last":
            return other.first.seq <= match.last.seq
        return other.first.seq == match.first.seq

    def _sweep(self, key: str, now: datetime) -> list[Match]:
        out: list[Match] = []
        alive = {p.ident: p for p in self._keys.pop(key, [])}  # in their stored order
        due = sorted(
            (p for p in alive.values() if self._deadline(p) < now), key=lambda p: (self._deadline(p), p.positions)
        )
        for partial in due:
            if partial.ident not in alive:
                continue  # a match fired just before this one took it away
            if partial.waiting:
                deadline = self._deadline(partial)
                out.append(match_of(partial, key, self._names, deadline, deadline))
                reason = f"no {_name(self.plan.trailing)} by {deadline.isoformat()}"
                self._note(None, key, partial.ident, "fired", reason)
                for ident in [i for i, p in alive.items() if self._discards(partial, p)]:
                    del alive[ident]
            else:
                self.counters["expired"] += 1
                self._note(None, key, partial.ident, "expired", f"within {self.plan.trigger.within} has passed")
                del alive[partial.ident]
        self._store(key, list(alive.values()))
        return out

    def _store(self, key: str, partials: list[Partial]) -> None:
        if not partials:
            self._keys.pop(key, None)
            return
        self._keys[key] = partials
        earliest = min(self._deadline(p) for p in partials)
        if key not in self._scheduled or earliest < self._scheduled[key]:
            self._scheduled[key] = earliest
            heapq.heappush(self._due, (earliest, key))

    def _deadline(self, partial: Partial) -> datetime:
        return partial.first.time + self.plan.within

    def _ident(self) -> int:
        self._next_id += 1
        return self._next_id

    def _why_not(self, partial: Partial, event: Taken) -> str:
        if self.trace is None:
            return ""
        tests: list[StepTest] = [self.plan.positives[partial.step]]
        if partial.step + 1 < len(self.plan.positives):
            tests.append(self.plan.positives[partial.step + 1])
        reasons = [test.refusal(event.event_type, event.payload) for test in tests]
        return "; ".join(reason for reason in reasons if reason) or "at its count or blocked"

    def _note(
        self, seq: int | None, key: str | None, partial: int | None, outcome: str, reason: str, *where: Any
    ) -> None:
        if self.trace is not None:
            self.trace.add(TraceLine(seq, key, partial, outcome, reason, *where))


def _name(step: StepTest | None) -> str:
    return "" if step is None else step.name
