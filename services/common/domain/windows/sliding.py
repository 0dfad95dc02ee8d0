"""Sliding event-time windows of numeric samples and their aggregations (avg sum min max count p95 rate)."""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

AGGREGATIONS: tuple[str, ...] = ("avg", "sum", "min", "max", "count", "p95", "rate")


class Admission(StrEnum):
    """Why a sample was taken into a window or refused."""

    IN_ORDER = "accepted"
    LATE = "accepted late, within one window length"
    TOO_LATE = "refused: older than one window length before the newest sample"

    @property
    def accepted(self) -> bool:
        return self is not Admission.TOO_LATE


class ExactSum:
    """A running sum of floats with no rounding drift: floats are held as integer multiples of 2**-1074.

    Adding then removing a value restores the exact previous sum, so a sliding sum never drifts from a
    sum recomputed over the current samples (`value` is the correctly rounded total, like math.fsum).
    """

    __slots__ = ("_units",)
    _SCALE = 1074  # every finite float is an integer multiple of 2**-1074

    def __init__(self) -> None:
        self._units = 0

    def add(self, value: float) -> None:
        self._units += self._to_units(value)

    def remove(self, value: float) -> None:
        self._units -= self._to_units(value)

    @property
    def value(self) -> float:
        try:
            return self._units / (1 << self._SCALE)
        except OverflowError:  # beyond the float range, as float addition would say
            return math.inf if self._units > 0 else -math.inf

    @classmethod
    def _to_units(cls, value: float) -> int:
        numerator, denominator = float(value).as_integer_ratio()
        return numerator * ((1 << cls._SCALE) // denominator)


class SlidingWindow:
    """Samples of one series over (T - length, T], T being the newest sample time (event time, seconds).

    A sample later than T moves the window forward and evicts what falls out; a late sample is
    accepted while t > T - length, else refused. Samples are kept sorted by time, ties in arrival order.
    Sum, count and avg are O(1) (an exact running sum); min, max and p95 read a sorted copy of the values
    kept up to date by bisection (a memmove per sample); rate is O(n).
    """

    def __init__(self, length_seconds: float) -> None:
        if not length_seconds > 0:
            raise ValueError("a window length is a positive number of seconds")
        self.length = float(length_seconds)
        self.newest: float | None = None
        self._times: list[float] = []
        self._values: list[float] = []
        self._sorted: list[float] = []
        self._sum = ExactSum()

    def _take(self, value: float) -> None:
        bisect.insort(self._sorted, value)
        self._sum.add(value)

    def add(self, at: float, value: float) -> Admission:
        """Offer a sample (`at` in epoch seconds); return whether it was accepted and why."""
        if not math.isfinite(value):
            raise ValueError("a window sample is a finite number")
        if self.newest is not None and at <= self.newest - self.length:
            return Admission.TOO_LATE
        admission = Admission.LATE if self.newest is not None and at < self.newest else Admission.IN_ORDER
        index = bisect.bisect_right(self._times, at)
        self._times.insert(index, at)
        self._values.insert(index, value)
        self._take(value)
        if self.newest is None or at > self.newest:
            self.newest = at
            self._evict()
        return admission

    def _evict(self) -> None:
        assert self.newest is not None
        cut = bisect.bisect_right(self._times, self.newest - self.length)
        for value in self._values[:cut]:
            self._sum.remove(value)
            del self._sorted[bisect.bisect_left(self._sorted, value)]
        del self._times[:cut]
        del self._values[:cut]

    def __len__(self) -> int:
        return len(self._times)

    def samples(self) -> list[tuple[float, float]]:
        """The samples in the window, oldest first."""
        return list(zip(self._times, self._values, strict=True))

    def aggregate(self, aggregation: str) -> float | None:
        """Return the aggregation over the window now; None when it is undefined (empty, or rate < 2 samples)."""
        if aggregation == "count":
            return float(len(self._values))
        if not self._values:
            return None
        if aggregation == "sum":
            return self._sum.value
        if aggregation == "avg":
            return self._sum.value / len(self._values)
        if aggregation == "min":
            return self._sorted[0]
        if aggregation == "max":
            return self._sorted[-1]
        if aggregation == "p95":
            return self._sorted[nearest_rank(len(self._sorted), 95) - 1]
        if aggregation == "rate":
            return rate(self._times, self._values)
        raise ValueError(f"unknown aggregation {aggregation!r}: use one of {', '.join(AGGREGATIONS)}")

    def snapshot(self) -> dict[str, Any]:
        """A JSON-able copy of the window (floats round-trip exactly through JSON)."""
        # Two flat lists, copied at C speed: the largest part of a shard snapshot is its windows' samples.
        return {"length": self.length, "newest": self.newest, "times": list(self._times), "values": list(self._values)}

    @classmethod
    def restore(cls, data: dict[str, Any]) -> SlidingWindow:
        """Rebuild a window from `snapshot()` output."""
        window = cls(data["length"])
        window.newest = data["newest"]
        pairs = zip(data["times"], data["values"], strict=True) if "times" in data else data["samples"]  # or earlier
        for at, value in pairs:
            window._times.append(float(at))
            window._values.append(float(value))
            window._take(float(value))
        return window


def p95(values: Sequence[float]) -> float:
    """Nearest-rank 95th percentile: the value at 1-based rank ceil(0.95 * n) of the sorted values."""
    return sorted(values)[nearest_rank(len(values), 95) - 1]


def nearest_rank(count: int, percent: int) -> int:
    """The 1-based nearest rank ceil(percent/100 * count), in integers so exact ranks never round up."""
    return (percent * count + 99) // 100


def rate(times: Sequence[float], values: Sequence[float]) -> float | None:
    """Per-second increase of a counter between the first and last sample, with counter resets.

    Samples are taken in time order (ties in arrival order). Each step adds `v[i] - v[i-1]`, or `v[i]`
    when the value dropped (a drop means the counter restarted from 0). The increase is divided by
    `t[last] - t[first]`; unlike Prometheus there is no extrapolation to the window edges. None with
    fewer than 2 samples or when they all share one time.
    """
    if len(values) < 2 or times[-1] == times[0]:
        return None
    increase = 0.0
    for previous, current in itertools.pairwise(values):
        increase += current - previous if current >= previous else current
    return increase / (times[-1] - times[0])
