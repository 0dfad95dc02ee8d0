"""Partial matches: the events taken per positive step, where the match stands, and their JSON form.

A partial is immutable; taking an event makes a new partial, so a branch (repeat the step or go to the next)
is two partials sharing their past. `first` and `positions` order partials the way the skip strategies read them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Taken:
    """One event a partial took: its input sequence number, event time, event type and payload."""

    seq: int
    time: datetime
    event_type: str | None
    payload: Mapping[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "time": self.time.isoformat(), "event_type": self.event_type, "payload": self.payload}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Taken:
        time = datetime.fromisoformat(data["time"])
        return cls(seq=int(data["seq"]), time=time, event_type=data["event_type"], payload=data["payload"])


@dataclass(frozen=True, slots=True)
class Partial:
    """A match under way: at positive step `step` with `count` events taken there.

    `blocked`: a negated event came after the last taken event, so the partial may not go on to the next step
    until it repeats its own step. `waiting`: every positive step is done and the trailing negated step's
    deadline is ahead.
    """

    ident: int
    step: int
    count: int
    taken: tuple[tuple[Taken, ...], ...]
    blocked: bool = False
    waiting: bool = False

    @property
    def first(self) -> Taken:
        return self.taken[0][0]

    @property
    def last(self) -> Taken:
        return next(events[-1] for events in reversed(self.taken) if events)

    @property
    def positions(self) -> tuple[int, ...]:
        """The sequence numbers of every taken event, in order: the tie-break among matches."""
        return tuple(event.seq for events in self.taken for event in events)

    def take(self, ident: int, step: int, event: Taken) -> Partial:
        """A new partial that took `event` at positive step `step` (the same step again, or the next one)."""
        count = self.count + 1 if step == self.step else 1
        taken = (*self.taken[:step], (*self.taken[step], event), *self.taken[step + 1 :])
        return Partial(ident=ident, step=step, count=count, taken=taken)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.ident,
            "step": self.step,
            "count": self.count,
            "blocked": self.blocked,
            "waiting": self.waiting,
            "taken": [[event.as_dict() for event in events] for events in self.taken],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Partial:
        return cls(
            ident=int(data["id"]),
            step=int(data["step"]),
            count=int(data["count"]),
            blocked=bool(data["blocked"]),
            waiting=bool(data["waiting"]),
            taken=tuple(tuple(Taken.from_dict(event) for event in events) for events in data["taken"]),
        )


def started(ident: int, steps: int, event: Taken) -> Partial:
    """A partial that took its first event at the first step."""
    return Partial(ident=ident, step=0, count=1, taken=((event,),) + ((),) * (steps - 1))
