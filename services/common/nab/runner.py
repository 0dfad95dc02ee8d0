"""Stream NAB data files through the evaluator's own detectors and write `timestamp,anomaly_score` results.

Each row goes through `Detector.observe` from services/common/domain/anomaly.py (scored against the baseline,
then learned), exactly as the evaluator runs a rule; the row's NAB score is the detector's `normalised` score
(raw / (raw + threshold), in [0, 1]), and 0 while the baseline is still filling. NAB sweeps the threshold, so
only the order of the scores matters: the rule threshold and the IQR multiplier are not tuning knobs here,
the baseline (span, min_baseline) and the EMA's alpha are.
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

from services.common.domain.anomaly import DEFAULT_EMA_ALPHA, Detector
from services.common.nab.corpus import Corpus, Series, parse_time


@dataclass(frozen=True)
class MethodParams:
    """One shipped method with the parameters used on the whole corpus (never per file)."""

    method: str
    threshold: float = 3.0
    min_baseline: int = 20
    window_seconds: float | None = None  # None: the last 500 values; else that span, at most 5000 values
    iqr_multiplier: float | None = None
    ema_alpha: float | None = None

    def detector(self) -> Detector:
        return Detector(
            self.method,
            self.threshold,
            self.min_baseline,
            window_seconds=self.window_seconds,
            iqr_multiplier=self.iqr_multiplier,
            ema_alpha=self.ema_alpha,
        )

    def describe(self) -> str:
        if self.window_seconds is None:
            span = "last 500 values"
        elif math.isinf(self.window_seconds):
            span = "last 5000 values (window_seconds=inf)"
        else:
            span = f"window {self.window_seconds:g}s (<=5000 values)"
        if self.method == "ema":  # the EMA keeps no window: its memory is alpha
            span = f"alpha {self.ema_alpha or DEFAULT_EMA_ALPHA}"
        return f"{self.method}: min_baseline {self.min_baseline}, {span}"


# Tuned on the whole corpus, standard profile (see docs/benchmarks.md and `bench/nab.py --tune`).
SHIPPED: dict[str, MethodParams] = {
    "zscore": MethodParams("zscore", min_baseline=20, window_seconds=math.inf),
    "iqr": MethodParams("iqr", min_baseline=20, window_seconds=None),
    "ema": MethodParams("ema", min_baseline=20, ema_alpha=0.003),
}


@dataclass(frozen=True)
class RunStats:
    """What a run cost: rows streamed and seconds spent in the detector (reading and writing excluded)."""

    files: int
    rows: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else math.inf


def stream_scores(series: Series, params: MethodParams) -> list[float]:
    """One anomaly score in [0, 1] per row, each value scored before it joins the baseline."""
    detector = params.detector()
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
    rows, seconds = 0, 0.0
    chosen = list(names) if names is not None else corpus.names()
    for name in chosen:
        series = corpus.series(name)
        started = time.perf_counter()
        scores = stream_scores(series, params)
        seconds += time.perf_counter() - started
        rows += len(scores)
        write_scores(out / name, series.timestamps, scores)
    return RunStats(len(chosen), rows, seconds)
