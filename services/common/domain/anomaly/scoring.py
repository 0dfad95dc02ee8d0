"""Streaming outlier detection, each score explained: a `Detector` is one method's model, a threshold and a
minimum baseline (the methods live in services/common/domain/anomaly/detectors/).

Every method turns a value into a score, and a value is an anomaly when its score exceeds the rule's
`threshold` (the same comparison for every method, as the rule summary reads it); the normalised score is
score / (score + threshold), in [0, 1] and 0.5 at the threshold. A value is scored against the baseline
*before* joining it. Below `min_baseline` values the detector is disabled and says so (is_anomaly None),
never a silent False.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from services.common.domain.anomaly.detectors import METHODS, Model, build_model
from services.common.domain.anomaly.detectors.classic import (
    DEFAULT_CAPACITY,
    DEFAULT_EMA_ALPHA,
    DEFAULT_IQR_MULTIPLIER,
    MAX_CAPACITY,
)
from services.common.domain.anomaly.detectors.refit import RefitExecutor
from services.common.domain.anomaly.detectors.running_stats import Moments

__all__ = [
    "DEFAULT_CAPACITY",
    "DEFAULT_EMA_ALPHA",
    "DEFAULT_IQR_MULTIPLIER",
    "MAX_CAPACITY",
    "METHODS",
    "AnomalyScore",
    "Detector",
    "Moments",
]


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
        executor: RefitExecutor | None = None,
        **options: Any,
    ) -> None:
        self.method = method
        self.threshold = float(threshold)
        self.min_baseline = min_baseline
        self.model: Model = build_model(
            method, min_baseline, window_seconds=window_seconds, executor=executor, **options
        )

    @property
    def ready(self) -> bool:
        return self.model.ready

    def observe(self, at: float, value: float) -> AnomalyScore:
        """Score `value` (at event time `at`, epoch seconds) against the baseline, then add it to the baseline."""
        verdict = self.score(value)
        self.model.learn(at, value)
        return verdict

    def score(self, value: float) -> AnomalyScore:
        """Score a value against the current baseline without learning it."""
        if not self.model.ready:
            size = self.model.baseline_size()
            if size < self.min_baseline:
                reason = f"anomaly detection disabled: baseline {size} of {self.min_baseline} samples"
            else:
                reason = "anomaly detection disabled: the first model is still being fitted"
            return AnomalyScore(value, None, None, None, reason, {"samples": size})
        score, details = self.model.score(value, self.threshold)
        normalised = 1.0 if math.isinf(score) else score / (score + self.threshold)
        anomalous = score > self.threshold
        reason = f"score {_text(score)} {'>' if anomalous else '<='} threshold {_text(self.threshold)}"
        return AnomalyScore(value, score, normalised, anomalous, reason, details)

    def baseline(self) -> dict[str, Any]:
        """The baseline's readiness and statistics, for the anomaly-status route."""
        size = self.model.baseline_size()
        return {"ready": self.model.ready, "samples": size, "required": self.min_baseline} | self.model.baseline()

    def snapshot(self) -> dict[str, Any]:
        return self.model.snapshot()

    def restore(self, data: dict[str, Any]) -> None:
        self.model.restore(data)


def _text(number: float) -> str:
    return "inf" if math.isinf(number) else f"{number:.3g}"


def _json_number(value: Any) -> Any:
    """JSON has no infinity: an infinite score is written as null with the reason saying 'inf'."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_json_number(v) for v in value]
    return value
