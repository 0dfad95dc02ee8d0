"""What the matcher reports: a complete match (the event it opens, its chain) and the trace of each input.

A match's payload is the contract's: `{"matched": {"<step name>": [<payload>, ...]}}` plus the fields of the last
matched event's payload. A trace line says, for one input and one partial match, what happened and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.common.domain.patterns.partials import Partial, Taken


@dataclass(frozen=True)
class Match:
    """A complete match of one correlation key, opened at `at` (its last event, or its negation deadline)."""

    key: str
    at: datetime
    steps: tuple[tuple[str, tuple[Taken, ...]], ...]
    deadline: datetime | None = None

    @property
    def positions(self) -> tuple[int, ...]:
        return tuple(event.seq for _, events in self.steps for event in events)

    def payload(self) -> dict[str, Any]:
        """The payload of the event the match opens."""
        last = next(events[-1] for _, events in reversed(self.steps) if events)
        matched = {name: [dict(event.payload) for event in events] for name, events in self.steps}
        return {**dict(last.payload), "matched": matched}

    def explain(self) -> list[dict[str, Any]]:
        """The matched chain: per step, the events it took (sequence number and event time)."""
        return [
            {"step": name, "events": [{"seq": e.seq, "time": e.time.isoformat()} for e in events]}
            for name, events in self.steps
        ]


def match_of(partial: Partial, key: str, names: tuple[str, ...], at: datetime, deadline: datetime | None) -> Match:
    """The match a complete partial stands for."""
    return Match(key=key, at=at, steps=tuple(zip(names, partial.taken, strict=True)), deadline=deadline)


@dataclass
class TraceLine:
    """What one input did to one partial match of its key (or why it started none)."""

    seq: int | None
    key: str | None
    partial: int | None
    outcome: str  # started | advanced | kept | dropped | blocked | cancelled | completed | fired | expired | ignored
    reason: str
    step: str | None = None
    count: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class Trace:
    """The lines of every input since the trace was made; only kept when the matcher is asked to explain."""

    lines: list[TraceLine] = field(default_factory=list)

    def add(self, line: TraceLine) -> None:
        self.lines.append(line)

    def as_list(self) -> list[dict[str, Any]]:
        return [line.as_dict() for line in self.lines]
