"""A sliding window for avg, sum and count rules: a float running sum that certifies verdicts, exact values on demand.

`RunningWindow` holds the same samples as `SlidingWindow` (same admission, eviction, snapshot) but keeps neither the
1074-bit exact sum nor the sorted copy. Its running sum carries a bound on its rounding error: `holds` answers a
threshold comparison from the running sum when the bound puts the exact aggregate on the same side of the threshold,
and from the exact aggregate (`math.fsum`, correctly rounded like `ExactSum`) otherwise. So every verdict and every
value it gives is the reference window's. Only avg, sum and count rules get one: min, max and p95 are read from a
sorted copy, equal to the reference's but not always with the same sign of a zero.
"""

from __future__ import annotations

import bisect
import math
import operator
from collections.abc import Callable, Sequence
from typing import Any

from services.common.domain.windows.sliding import AGGREGATIONS, Admission, ExactSum, SlidingWindow, p95, rate

ROUNDING = 2.0**-52  # a bound on one float addition's relative rounding error (half an ulp is 2**-53)
RESYNC_EVERY = 1024  # operations after which the running sum is recomputed, so its error bound stays tight
# A threshold rule's operator as the comparison `holds` takes.
TESTS: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


def exact_sum(values: list[float]) -> float:
    """The correctly rounded sum, as `ExactSum.value` gives it (zero is +0.0, overflow is +-inf)."""
    try:
        total = math.fsum(values)
    except OverflowError:
        exact = ExactSum()
        for value in values:
            exact.add(value)
        return exact.value
    return total if total != 0.0 else 0.0


def exact_aggregate(times: Sequence[float], values: list[float], aggregation: str) -> float | None:
    """The aggregation over a window's samples (oldest first), as `SlidingWindow.aggregate` gives it, computed from
    the samples alone: None when undefined (empty, or rate of fewer than two samples at different times)."""
    if aggregation == "count":
        return float(len(values))
    if not values:
        return None
    if aggregation == "sum":
        return exact_sum(values)
    if aggregation == "avg":
        return exact_sum(values) / len(values)
    if aggregation == "min":
        return sorted(values)[0]
    if aggregation == "max":
        return sorted(values)[-1]
    if aggregation == "p95":
        return p95(values)
    if aggregation == "rate":
        return rate(times, values)
    raise ValueError(f"unknown aggregation {aggregation!r}: use one of {', '.join(AGGREGATIONS)}")


class RunningWindow(SlidingWindow):
    """A `SlidingWindow` whose avg, sum and count verdicts come from a running sum with an error bound."""

    def __init__(self, length_seconds: float) -> None:  # no sorted copy, no exact sum: only what is read here
        if not length_seconds > 0:
            raise ValueError("a window length is a positive number of seconds")
        self.length = float(length_seconds)
        self.newest: float | None = None
        self._times: list[float] = []
        self._values: list[float] = []
        # Each addition or removal since the last resync rounds by at most |its result| * 2**-53, and every partial
        # sum is at most `_magnitude` (the absolute values held then, plus those added since): so the running sum
        # is within `_operations * _magnitude * 2**-52` of the exact sum of the values.
        self._total = 0.0
        self._magnitude = 0.0
        self._operations = 0

    def _take(self, value: float) -> None:
        self._total += value
        self._magnitude += abs(value)
        self._operations += 1

    def add(self, at: float, value: float) -> Admission:
        """`SlidingWindow.add`: a sample at or after the newest is appended, an earlier one inserted in place."""
        newest = self.newest
        if newest is not None and at < newest:
            return super().add(at, value)
        if not math.isfinite(value):
            raise ValueError("a window sample is a finite number")
        self._times.append(at)
        self._values.append(value)
        self._take(value)
        if newest is None or at > newest:
            self.newest = at
            self._evict()
        return Admission.IN_ORDER

    def take(
        self, at: float, value: float, aggregation: str, test: Callable[[Any, Any], bool], threshold: float
    ) -> bool | None:
        """`add` then `holds`, in one call: None when the sample is refused (more than one window length late).

        `value` is a sample's number, finite (`measures.sample_of` makes it so): it is not checked again here.
        """
        newest = self.newest
        if newest is not None and at < newest:
            if at <= newest - self.length:
                return None
            super().add(at, value)
            return self.holds(aggregation, test, threshold)
        times, values = self._times, self._values
        times.append(at)
        values.append(value)
        total = self._total + value
        magnitude = self._magnitude + (value if value >= 0.0 else -value)  # abs() without the call
        operations = self._operations + 1
        if newest is None or at > newest:
            self.newest = at
            edge = at - self.length
            if times[0] <= edge:
                if times[1] > edge:  # the usual step: one sample leaves (the newest never does)
                    total -= values[0]
                    del times[0]
                    del values[0]
                    operations += 1
                else:
                    cut = bisect.bisect_right(times, edge)
                    for old in values[:cut]:
                        total -= old
                    del times[:cut]
                    del values[:cut]
                    operations += cut
        self._total, self._magnitude, self._operations = total, magnitude, operations
        if operations >= RESYNC_EVERY:
            self._resync()
        return self.holds(aggregation, test, threshold)

    def _evict(self) -> None:
        assert self.newest is not None
        times = self._times
        edge = self.newest - self.length
        if times[0] <= edge:
            cut = bisect.bisect_right(times, edge)
            values = self._values
            total = self._total
            for value in values[:cut]:
                total -= value
            del times[:cut]
            del values[:cut]
            self._total = total
            self._operations += cut
        if self._operations >= RESYNC_EVERY:
            self._resync()

    def _resync(self) -> None:
        self._operations = 0
        self._total = exact_sum(self._values)
        self._magnitude = sum(map(abs, self._values))  # inf past the float range: then every verdict is exact

    def aggregate(self, aggregation: str) -> float | None:
        """`SlidingWindow.aggregate`, exactly (the running sum is not used here)."""
        return exact_aggregate(self._times, self._values, aggregation)

    def holds(self, aggregation: str, test: Callable[[Any, Any], bool], threshold: float) -> bool:
        """`test(self.aggregate(aggregation), threshold)` for avg, sum or count over a non-empty window."""
        count = len(self._values)
        if aggregation == "count":
            return test(float(count), threshold)
        total = self._total
        # The exact aggregate is within `bound` of the running one (the sum's error bound, the rounding of the exact
        # sum and of both divisions, generously): farther than that from the threshold, both lie on its same side.
        bound = 4.0 * (self._operations * self._magnitude + abs(total)) * ROUNDING + 1e-300
        if aggregation == "avg":
            total /= count
            bound /= count
        distance = total - threshold
        if distance > bound or -distance > bound:
            return test(total, threshold)
        return test(self.aggregate(aggregation), threshold)

    def copied(self) -> RunningWindow:
        """An independent copy (the same samples and running sums)."""
        twin = RunningWindow.__new__(RunningWindow)
        twin.__dict__.update(self.__dict__)
        twin._times, twin._values = self._times.copy(), self._values.copy()
        return twin

    @classmethod
    def of(cls, window: SlidingWindow) -> RunningWindow:
        """The same samples in a running window."""
        running = cls(window.length)
        running.newest = window.newest
        running._times = list(window._times)
        running._values = list(window._values)
        running._resync()
        return running
