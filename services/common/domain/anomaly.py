"""Streaming outlier detectors (zscore, iqr, ema) over a bounded baseline, each score explained.

Every method turns a value into a score, and a value is an anomaly when its score exceeds the rule's
`threshold` (the same comparison for every method, as the rule summary reads it):

- zscore: |x - mean| / std over the baseline (population std).
- iqr: the distance outside the quartile box [q1, q3], in units of k * IQR, with k = `iqr_multiplier`
  (default 1.5): a score of 1 is Tukey's fence, so threshold 1 is the classic rule.
- ema: |x - ema| / ema_std, an exponentially weighted mean and deviation with `ema_alpha` (default 0.3).

A value is scored against the baseline *before* joining it. The baseline holds the last
`DEFAULT_CAPACITY` values, or with a `window` the values of that event-time span (at most `MAX_CAPACITY`).
Below `min_baseline` values the detector is disabled and says so (is_anomaly None), never a silent False.
A zero spread (a constant baseline) makes any different value an infinite score.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

DEFAULT_CAPACITY = 500
MAX_CAPACITY = 5000
DEFAULT_IQR_MULTIPLIER = 1.5
DEFAULT_EMA_ALPHA = 0.3


@dataclass(frozen=True)
class AnomalyScore:
    """The verdict on one value: raw score, score normalised to [0, 1] (0.5 at the threshold), and why."""

    value: float
    score: float | None
    normalised: float | None
    is_anomaly: bool | None
    reason: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return self.is_anomaly is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "score": _json_number(self.score),
            "normalised_score": self.normalised,
            "is_anomaly": self.is_anomaly,
            "reason": self.reason,
            "details": {k: _json_number(v) for k, v in self.details.items()},
        }


class Detector:
    """One baseline and its method; `observe` scores a value, then learns it."""

    def __init__(
        self,
        method: str,
        threshold: float,
        min_baseline: int,
        *,
        window_seconds: float | None = None,
        iqr_multiplier: float | None = None,
        ema_alpha: float | None = None,
    ) -> None:
        if method not in ("zscore", "iqr", "ema"):
            raise ValueError(f"unknown anomaly method {method!r}: use zscore, iqr or ema")
        self.method = method
        self.threshold = float(threshold)
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
        return self._baseline_size() >= self.min_baseline

    def _baseline_size(self) -> int:
        return min(self.seen, self.min_baseline) if self.method == "ema" else len(self.samples)

    def observe(self, at: float, value: float) -> AnomalyScore:
        """Score `value` (at event time `at`, epoch seconds) against the baseline, then add it to the baseline."""
        verdict = self.score(value)
        self._learn(at, value)
        return verdict

    def score(self, value: float) -> AnomalyScore:
        """Score a value against the current baseline without learning it."""
        if not self.ready:
            reason = f"anomaly detection disabled: baseline {self._baseline_size()} of {self.min_baseline} samples"
            return AnomalyScore(value, None, None, None, reason, {"samples": self._baseline_size()})
        score, details = getattr(self, f"_{self.method}")(value)
        normalised = 1.0 if math.isinf(score) else score / (score + self.threshold)
        anomalous = score > self.threshold
        reason = f"score {_text(score)} {'>' if anomalous else '<='} threshold {_text(self.threshold)}"
        return AnomalyScore(value, score, normalised, anomalous, reason, details)

    def _zscore(self, value: float) -> tuple[float, dict[str, Any]]:
        mean, std = self._moments.mean_std()
        score = _ratio(abs(value - mean), std)
        band = [mean - self.threshold * std, mean + self.threshold * std]
        return score, {"mean": mean, "std": std, "z": _ratio(value - mean, std), "expected_band": band}

    def _iqr(self, value: float) -> tuple[float, dict[str, Any]]:
        ordered = self._sorted
        q1, median, q3 = _quantile(ordered, 0.25), _quantile(ordered, 0.5), _quantile(ordered, 0.75)
        spread = q3 - q1
        outside = max(q1 - value, value - q3, 0.0)
        score = _ratio(outside, self.multiplier * spread)
        reach = self.threshold * self.multiplier * spread
        return score, {"q1": q1, "median": median, "q3": q3, "iqr": spread, "expected_band": [q1 - reach, q3 + reach]}

    def _ema(self, value: float) -> tuple[float, dict[str, Any]]:
        assert self.ema is not None
        std = math.sqrt(self.ema_var)
        score = _ratio(abs(value - self.ema), std)
        band = [self.ema - self.threshold * std, self.ema + self.threshold * std]
        return score, {"ema": self.ema, "ema_std": std, "alpha": self.alpha, "expected_band": band}

    def _learn(self, at: float, value: float) -> None:
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
        """The baseline's readiness and statistics, for the anomaly-status route."""
        stats: dict[str, Any] = {"ready": self.ready, "samples": self._baseline_size(), "required": self.min_baseline}
        ordered = self._sorted
        if ordered:
            mean, std = self._moments.mean_std()
            stats |= {"mean": mean, "std": std, "min": ordered[0], "max": ordered[-1]}
            stats |= {"q1": _quantile(ordered, 0.25), "median": _quantile(ordered, 0.5), "q3": _quantile(ordered, 0.75)}
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


def _quantile(ordered: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _ratio(distance: float, spread: float) -> float:
    if spread > 0:
        return distance / spread
    return 0.0 if distance == 0 else math.copysign(math.inf, distance)


def _text(number: float) -> str:
    return "inf" if math.isinf(number) else f"{number:.3g}"


def _json_number(value: Any) -> Any:
    """JSON has no infinity: an infinite score is written as null with the reason saying 'inf'."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_json_number(v) for v in value]
    return value
