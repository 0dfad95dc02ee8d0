"""Exact, snapshot-friendly statistics shared by the detectors: sliding moments, quantiles, a sliding maximum."""

from __future__ import annotations

import math
from collections import deque


class Moments:
    """Exact running count, sum and sum of squares of floats: the mean and variance of a sliding baseline
    never drift, whatever was added and removed (floats are integer multiples of 2**-1074, squares of
    2**-2148, so Python integers hold the sums exactly)."""

    _ONE = 1 << 1074
    _ONE_SQUARED = 1 << 2148

    def __init__(self) -> None:
        self.count = 0
        self._sum = 0
        self._squares = 0

    def add(self, value: float, sign: int = 1) -> None:
        numerator, denominator = float(value).as_integer_ratio()
        self.count += sign
        self._sum += sign * numerator * (self._ONE // denominator)
        self._squares += sign * numerator * numerator * (self._ONE_SQUARED // (denominator * denominator))

    def remove(self, value: float) -> None:
        self.add(value, -1)

    def mean_std(self) -> tuple[float, float]:
        """Mean and population standard deviation, correctly rounded from the exact sums."""
        try:
            mean = self._sum / (self.count * self._ONE)
            variance = (self.count * self._squares - self._sum * self._sum) / (self.count**2 * self._ONE_SQUARED)
        except OverflowError:  # beyond the float range
            return math.nan, math.inf
        return mean, math.sqrt(variance)


class SlidingStats:
    """The last `capacity` values of a stream with their exact mean and standard deviation."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.values: deque[float] = deque()
        self.moments = Moments()

    def add(self, value: float) -> None:
        self.values.append(value)
        self.moments.add(value)
        if len(self.values) > self.capacity:
            self.moments.remove(self.values.popleft())

    def mean_std(self) -> tuple[float, float]:
        return self.moments.mean_std()

    def __len__(self) -> int:
        return len(self.values)

    def snapshot(self) -> list[float]:
        return list(self.values)

    def restore(self, values: list[float]) -> None:
        self.values, self.moments = deque(), Moments()
        for value in values:
            self.add(float(value))


class SlidingMax:
    """The maximum of the last `span` values in O(1) amortised (a monotonic queue of (index, value))."""

    def __init__(self, span: int) -> None:
        self.span = span
        self.index = 0
        self.queue: deque[tuple[int, float]] = deque()

    def add(self, value: float) -> None:
        while self.queue and self.queue[-1][1] <= value:
            self.queue.pop()
        self.queue.append((self.index, value))
        self.index += 1
        while self.queue[0][0] <= self.index - 1 - self.span:
            self.queue.popleft()

    def peak(self, default: float = 0.0) -> float:
        return self.queue[0][1] if self.queue else default

    def snapshot(self) -> dict[str, object]:
        return {"index": self.index, "queue": [list(item) for item in self.queue]}

    def restore(self, data: dict[str, object]) -> None:
        self.index = int(data["index"])  # type: ignore[call-overload]
        self.queue = deque((int(i), float(v)) for i, v in data["queue"])  # type: ignore[attr-defined]


def quantile(ordered: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def ratio(distance: float, spread: float) -> float:
    """distance / spread, with a zero spread making any non-zero distance infinitely far."""
    if spread > 0:
        return distance / spread
    return 0.0 if distance == 0 else math.copysign(math.inf, distance)
