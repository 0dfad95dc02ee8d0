"""Stream NAB data files through the evaluator's own detectors and write `timestamp,anomaly_score` results.

Each row goes through `Detector.observe` from services/common/domain/anomaly/scoring.py (scored against the baseline,
then learned), exactly as the evaluator runs a rule, whatever the method (services/common/domain/anomaly/detectors/);
model refits run inline, swapped in at the same sample as in the evaluator. The row's NAB score is the
detector's `normalised` score (raw / (raw + threshold), in [0, 1]), and 0 while the baseline is still filling.
NAB sweeps the threshold, so only the order of the scores matters: the rule threshold and the IQR multiplier
are not tuning knobs here; the baseline (span, min_baseline) and each method's own parameters are.
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from datetime import UTC
from pathlib import Path
from typing import TypeVar

from services.common.domain.anomaly.detectors.refit import InlineExecutor, RefitExecutor
from services.common.domain.anomaly.scoring import Detector
from services.common.nab.corpus import Corpus, Series, parse_time

T = TypeVar("T")


@dataclass(frozen=True)
class MethodParams:
    """One shipped method with the parameters used on the whole corpus (never per file)."""

    method: str
    threshold: float = 3.0
    min_baseline: int = 20
    window_seconds: float | None = None  # classic methods: None is the last 500 values, else that span (<=5000)
    options: tuple[tuple[str, float], ...] = ()  # the method's own parameters (AnomalyTrigger field names)

    def detector(self, executor: RefitExecutor | None = None) -> Detector:
        return Detector(
            self.method,
            self.threshold,
            self.min_baseline,
            window_seconds=self.window_seconds,
            executor=executor,
            **dict(self.options),
        )

    def with_options(self, **options: float) -> MethodParams:
        return replace(self, options=tuple(sorted((dict(self.options) | options).items())))

    def describe(self) -> str:
        parts = [f"min_baseline={self.min_baseline}"]
        if self.method in ("zscore", "iqr"):
            if self.window_seconds is None:
                parts.append("last 500 values")
            elif math.isinf(self.window_seconds):
                parts.append("last 5000 values (window_seconds=inf)")
            else:
                parts.append(f"window {self.window_seconds:g}s (<=5000 values)")
        parts += [f"{name}={value:g}" for name, value in self.options]
        return f"{self.method}: {', '.join(parts)}"


# Tuned on the whole corpus, standard profile (see docs/benchmarks.md and `bench/nab.py --tune`).
SHIPPED: dict[str, MethodParams] = {
    "zscore": MethodParams("zscore", min_baseline=20, window_seconds=math.inf),
    "iqr": MethodParams("iqr", min_baseline=20, window_seconds=math.inf),
    "ema": MethodParams("ema", min_baseline=20, options=(("ema_alpha", 0.003),)),
    "multiscale": MethodParams("multiscale", threshold=1.0, min_baseline=50, options=(("season_seconds", 86400.0),)),
    "contextual": MethodParams("contextual", threshold=1.0, min_baseline=50, options=(("season_seconds", 86400.0),)),
    "hbos": MethodParams("hbos", threshold=1.0, min_baseline=200),
}


@dataclass(frozen=True)
class RunStats:
    """What a run cost: rows streamed, seconds spent in the detector (reading and writing excluded), and the
    part of those seconds spent refitting models."""

    files: int
    rows: int
    seconds: float
    refit_seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else math.inf

    @property
    def refit_per_1000(self) -> float:
        """Seconds of model refits per 1,000 samples."""
        return 1000 * self.refit_seconds / self.rows if self.rows else 0.0


class RefitTimer(InlineExecutor):
    """Runs refits inline, as NAB does, and adds up the seconds they take."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def submit(self, fn: Callable[[], T], /) -> Future[T]:
        started = time.perf_counter()
        try:
            return super().submit(fn)
        finally:
            self.seconds += time.perf_counter() - started


def stream_scores(series: Series, params: MethodParams, executor: RefitExecutor | None = None) -> list[float]:
    """One anomaly score in [0, 1] per row, each value scored before it joins the baseline (refits inline)."""
    detector = params.detector(executor)
    scores = []
    for stamp, value in zip(series.timestamps, series.values, strict=True):
        at = parse_time(stamp).replace(tzinfo=UTC).timestamp()
        normalised = detector.observe(at, value).normalised
        scores.append(normalised if normalised is not None and math.isfinite(normalised) else 0.0)
    return scores


def write_scores(path: Path, timestamps: Sequence[str], scores: Sequence[float]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "anomaly_score"])
        writer.writerows(zip(timestamps, (repr(s) for s in scores), strict=True))


def run_method(corpus: Corpus, params: MethodParams, out: Path, names: Sequence[str] | None = None) -> RunStats:
    """Write `out/<category>/<file>.csv` for every named file (default: the whole corpus)."""
    rows, seconds, refits = 0, 0.0, RefitTimer()
    chosen = list(names) if names is not None else corpus.names()
    for name in chosen:
        series = corpus.series(name)
        started = time.perf_counter()
        scores = stream_scores(series, params, refits)
        seconds += time.perf_counter() - started
        rows += len(scores)
        write_scores(out / name, series.timestamps, scores)
    return RunStats(len(chosen), rows, seconds, refits.seconds)
