"""contextual: multiscale plus a context memory, so a broken sequence counts even when its values look normal.

Everything multiscale does (features, records, the onset gate: multiscale.py), with one more candidate for the
combined ratio: `CONTEXT_WEIGHT` times the surprise of the value in the series' context memory
(context_memory.py: 0 when every recent context of quantised values has led to this level before, 1 when none
has). The weight is just above the record ratio of NAB's chosen threshold (1.12), so a wholly new step is flagged
at its onset even when no feature breaks its record; at threshold 1 a step at least 87 % new can be. The
memory starts once the baseline holds `min_baseline` values (their span sets the first levels).
"""

from __future__ import annotations

from typing import Any

from services.common.domain.anomaly.detectors.context_memory import ContextMemory
from services.common.domain.anomaly.detectors.multiscale import MultiScale

CONTEXT_WEIGHT = 1.15


class Contextual(MultiScale):
    """multiscale's state and a context memory of the same series."""

    def __init__(self, min_baseline: int, **options: Any) -> None:
        super().__init__(min_baseline, **options)
        self.memory = ContextMemory()
        self._surprise: tuple[float, float] | None = None  # (value, its surprise) until the value is learned

    def surprise(self, value: float) -> float:
        if self._surprise is None or self._surprise[0] != value:
            self._surprise = (value, self.memory.surprise(value))
        return self._surprise[1]

    def _measure(self, value: float) -> tuple[dict[str, tuple[float, float]], float]:
        if self._cache is not None and self._cache[0] == value:
            return self._cache[1], self._cache[2]
        found, combined = super()._measure(value)
        combined = max(combined, CONTEXT_WEIGHT * self.surprise(value))
        self._cache = (value, found, combined)
        return found, combined

    def score(self, value: float, threshold: float) -> tuple[float, dict[str, Any]]:
        score, details = super().score(value, threshold)
        return score, details | {"score_context": self.surprise(value), "contexts": len(self.memory)}

    def learn(self, at: float, value: float) -> None:
        started = bool(self.memory.levels)
        super().learn(at, value)
        self._surprise = None
        if started:
            self.memory.learn(value)
            return
        self.memory.widen(value)
        if self.baseline_size() >= self.min_baseline:
            self.memory.start(list(self.history))

    def baseline(self) -> dict[str, Any]:
        memory = self.memory
        return super().baseline() | {"context": {"contexts": len(memory), "low": memory.low, "high": memory.high}}

    def snapshot(self) -> dict[str, Any]:
        return super().snapshot() | {"context": self.memory.snapshot()}

    def restore(self, data: dict[str, Any]) -> None:
        super().restore(data)
        self.memory.restore(data["context"])
        self._surprise = None
