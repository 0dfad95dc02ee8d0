"""Late events of a pattern rule: held until the watermark passes them, so the matcher reads them in event-time order.

Windows accept a sample up to one window length late and judge it at once: an aggregate does not depend on the
order its samples came in. A pattern does (which event came first decides the match, a negated event between
two steps voids it), and a reported match cannot be taken back; so a pattern waits instead. The buffer keeps the
key's events whose time is after the watermark `W = newest - lateness` (newest: the latest event time the key
has seen, or a tick's event time), sorted by time then arrival, and releases each one once W reaches it. An event
before W on arrival is too late: refused, and the caller counts it (`late`), as a window refuses a sample more
than one window length late. The matcher thus reads exactly the accepted events sorted by event time (equal times
in arrival order), and its time is W: a trailing negation's deadline D fires once W passes D.

Bounded: a key holds only the events of its last `lateness` (at most `within`, patterns/spec.py); each is held
once and released once. With a lateness of 0 nothing waits: an event is released on arrival, and one older than
the newest is late, as before this buffer existed.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

DEFAULT_LATENESS_SECONDS = 0.0  # nothing waits: an event older than its key's newest is late
MAX_LATENESS_SECONDS = 7 * 24 * 3600.0  # the longest `within` (patterns/spec.py), which caps it per rule anyway


@dataclass(frozen=True, slots=True)
class Held:
    """One accepted event waiting for the watermark: its time, arrival number, type, payload and arrival lag."""

    time: datetime
    arrival: int
    event_type: str | None
    payload: Mapping[str, Any]
    lag: float | None = None  # seconds from event time to arrival, when known (the series' wall-clock fallback)
    event_id: str | None = None  # the event's id, which a match it completes names as its source

    def as_dict(self) -> dict[str, Any]:
        body = {"time": self.time.isoformat(), "arrival": self.arrival, "event_type": self.event_type}
        return body | {"payload": self.payload, "lag": self.lag, "event_id": self.event_id}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Held:
        lag = data.get("lag")
        return cls(
            datetime.fromisoformat(data["time"]),
            int(data["arrival"]),
            data["event_type"],
            data["payload"],
            None if lag is None else float(lag),
            data.get("event_id"),
        )


class LatenessBuffer:
    """The events of one key not yet released to its matcher, and the newest time the key has seen."""

    def __init__(self, lateness: timedelta, newest: datetime | None = None) -> None:
        if lateness < timedelta(0):
            raise ValueError("the allowed lateness is not negative")
        self.lateness = lateness
        self.newest = newest
        self._held: list[Held] = []  # sorted by (time, arrival)
        self._arrivals = 0

    @property
    def watermark(self) -> datetime | None:
        """No event at or before it is still to come: the matcher's time."""
        return None if self.newest is None else self.newest - self.lateness

    @property
    def empty(self) -> bool:
        return not self._held

    def too_late(self, time: datetime) -> bool:
        """Whether an event at `time` arrives after the watermark passed it (refused; the caller counts it)."""
        watermark = self.watermark
        return watermark is not None and time < watermark

    def offer(
        self,
        event_type: str | None,
        payload: Mapping[str, Any],
        time: datetime,
        lag: float | None = None,
        event_id: str | None = None,
    ) -> bool:
        """Hold an event until the watermark reaches it; False (nothing held) when it is too late."""
        if self.too_late(time):
            return False
        held = Held(time, self._arrivals, event_type, payload, lag, event_id)
        self._arrivals += 1
        bisect.insort(self._held, held, key=_order)
        if self.newest is None or time > self.newest:
            self.newest = time
        return True

    def advance(self, now: datetime) -> None:
        """Event time is at least `now` (a tick's): the watermark moves to `now - lateness` if that is later."""
        if self.newest is None or now > self.newest:
            self.newest = now

    def release(self) -> list[Held]:
        """The held events the watermark has reached (time <= watermark), in (time, arrival) order."""
        watermark = self.watermark
        if watermark is None or not self._held or self._held[0].time > watermark:
            return []
        cut = bisect.bisect_right(self._held, (watermark, self._arrivals), key=_order)
        out, self._held = self._held[:cut], self._held[cut:]
        return out

    def next_release(self) -> datetime | None:
        """The earliest `newest` at which `release` gives something (the first held event's time + lateness)."""
        return None if not self._held else self._held[0].time + self.lateness

    def lags(self) -> list[float]:
        """The arrival lags of the held events (a tick must wait for the slowest of them)."""
        return [held.lag for held in self._held if held.lag is not None]

    def snapshot(self) -> dict[str, Any]:
        return {
            "newest": None if self.newest is None else self.newest.isoformat(),
            "arrivals": self._arrivals,
            "held": [held.as_dict() for held in self._held],
        }

    @classmethod
    def restore(cls, lateness: timedelta, data: Mapping[str, Any]) -> LatenessBuffer:
        """A buffer in the state of `snapshot()` output, under the lateness in force now."""
        newest = data.get("newest")
        buffer = cls(lateness, None if newest is None else datetime.fromisoformat(newest))
        buffer._arrivals = int(data.get("arrivals", 0))
        buffer._held = sorted((Held.from_dict(held) for held in data.get("held", [])), key=_order)
        return buffer


def _order(held: Held) -> tuple[datetime, int]:
    return held.time, held.arrival
