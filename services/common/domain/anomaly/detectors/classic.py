"""The classic methods over one bounded baseline: zscore, iqr (with a spread floor) and ema.

- zscore: |x - mean| / std over the baseline (population std).
- iqr: the distance outside the quartile box [q1, q3], in units of k * spread, with k = `iqr_multiplier`
  (default 1.5): a score of 1 is Tukey's fence, so threshold 1 is the classic rule. The spread is the IQR,
  but never less than the IQR a normal distribution with the baseline's standard deviation would have
  (1.349 std): on stepped data (integer counts, a flat CPU) the quartile box is often empty, and an empty box
  made any other value infinitely far (NAB: 0.00 without the floor; 38.0 with it, 36.6 at 1.0 std, 38.4 at 2).
- ema: |x - ema| / ema_std, an exponentially weighted mean and deviation with `ema_alpha` (default 0.3).

The baseline holds the last `DEFAULT_CAPACITY` values, or with a `window` the values of that event-time span (at
most `MAX_CAPACITY`). A zero spread (a constant baseline) makes any different value an infinite score.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from typing import Any

from services.common.domain.anomaly.detectors.running_stats import Moments, quantile, ratio

DEFAULT_CAPACITY = 500
MAX_CAPACITY = 5000
DEFAULT_IQR_MULTIPLIER = 1.5
DEFAULT_EMA_ALPHA = 0.3
NORMAL_IQR = 1.349  # the IQR of a normal distribution, in standard deviations: the spread's floor


class Classic:
    """The zscore, iqr and ema methods: one baseline window and one exponentially weighted mean."""

    def __init__(
        self,
        method: str,
        min_baseline: int,
        *,
        window_seconds: float | None = None,
        iqr_multiplier: float | None = None,
        ema_alpha: float | None = None,
    ) -> None:
        self.method = method
        self.min_baseline = min_baseline
        self.window_seconds = window_seconds
        self.multiplier = float(iqr_multiplier or DEFAULT_IQR_MULTIPLIER)
        self.alpha = float(ema_alpha or DEFAULT_EMA_ALPHA)
        self.samples: deque[tuple[float, float]] = deque()
        self._sorted: list[float] = []
        self._moments = Moments()
        self.ema: float | None = None
        self.ema_var = 0.0
        self.seen = 0
        self.newest: float | None = None

    @property
    def ready(self) -> bool:
        return self.baseline_size() >= self.min_baseline

    def baseline_size(self) -> int:
        return min(self.seen, self.min_baseline) if self.method == "ema" else len(self.samples)

    def score(self, value: float, threshold: float) -> tuple[float, dict[str, Any]]:
        if self.method == "zscore":
            return self._zscore(value, threshold)
        if self.method == "iqr":
            return self._iqr(value, threshold)
        return self._ema(value, threshold)

    def _zscore(self, value: float, threshold: float) -> tuple[float, dict[str, Any]]:
        mean, std = self._moments.mean_std()
        score = ratio(abs(value - mean), std)
        band = [mean - threshold * std, mean + threshold * std]
        return score, {"mean": mean, "std": std, "z": ratio(value - mean, std), "expected_band": band}

    def _iqr(self, value: float, threshold: float) -> tuple[float, dict[str, Any]]:
        ordered = self._sorted
        q1, median, q3 = quantile(ordered, 0.25), quantile(ordered, 0.5), quantile(ordered, 0.75)
        spread = q3 - q1
        floor = NORMAL_IQR * self._moments.mean_std()[1]
        unit = self.multiplier * max(spread, floor)
        outside = max(q1 - value, value - q3, 0.0)
        reach = threshold * unit
        details = {"q1": q1, "median": median, "q3": q3, "iqr": spread, "spread_floor": floor}
        return ratio(outside, unit), details | {"expected_band": [q1 - reach, q3 + reach]}

    def _ema(self, value: float, threshold: float) -> tuple[float, dict[str, Any]]:
        assert self.ema is not None
        std = math.sqrt(self.ema_var)
        score = ratio(abs(value - self.ema), std)
        band = [self.ema - threshold * std, self.ema + threshold * std]
        return score, {"ema": self.ema, "ema_std": std, "alpha": self.alpha, "expected_band": band}

    def learn(self, at: float, value: float) -> None:
        self.seen += 1
        if self.ema is None:
            self.ema = value
        else:  # incremental exponentially weighted mean and variance (Finch, 2009)
            diff = value - self.ema
            step = self.alpha * diff
            self.ema += step
            self.ema_var = (1 - self.alpha) * (self.ema_var + diff * step)
        self._keep(at, value)
        capacity = MAX_CAPACITY if self.window_seconds is not None else DEFAULT_CAPACITY
        while len(self.samples) > capacity:
            self._drop_oldest()
        if self.window_seconds is not None:
            self.newest = at if self.newest is None else max(self.newest, at)
            while self.samples and self.samples[0][0] <= self.newest - self.window_seconds:
                self._drop_oldest()

    def _keep(self, at: float, value: float) -> None:
        self.samples.append((at, value))
        bisect.insort(self._sorted, value)
        self._moments.add(value)

    def _drop_oldest(self) -> None:
        _, value = self.samples.popleft()
        del self._sorted[bisect.bisect_left(self._sorted, value)]
        self._moments.remove(value)

    def baseline(self) -> dict[str, Any]:
        stats: dict[str, Any] = {}
        ordered = self._sorted
        if ordered:
            mean, std = self._moments.mean_std()
            stats |= {"mean": mean, "std": std, "min": ordered[0], "max": ordered[-1]}
            stats |= {"q1": quantile(ordered, 0.25), "median": quantile(ordered, 0.5), "q3": quantile(ordered, 0.75)}
        if self.ema is not None:
            stats |= {"ema": self.ema, "ema_std": math.sqrt(self.ema_var)}
        return stats

    def snapshot(self) -> dict[str, Any]:
        samples = [list(s) for s in self.samples]
        return {"samples": samples, "newest": self.newest, "ema": self.ema, "ema_var": self.ema_var, "seen": self.seen}

    def restore(self, data: dict[str, Any]) -> None:
        self.samples, self._sorted, self._moments = deque(), [], Moments()
        for at, value in data["samples"]:
            self._keep(float(at), float(value))
        self.newest, self.ema, self.ema_var, self.seen = data["newest"], data["ema"], data["ema_var"], data["seen"]
