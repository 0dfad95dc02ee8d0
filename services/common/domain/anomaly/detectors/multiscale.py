"""multiscale: a value seen at several scales, each against its own past; only new records count, at their onset.

Features of the newest value x (each over the series' recent values, all streaming):
- `mean_1`, `mean_8`, `mean_32`: the mean of the newest 1, 8 and 32 values (spikes, bursts, level shifts and
  drifts hidden in noise), scored as a z-score against that feature's last `baseline_span` values;
- `season` (only with `season_seconds`, e.g. 86400 for a day): x minus the value one season earlier (the lag is
  taken from the first sampling intervals seen; left out while unknown or over `MAX_LAG` samples), also as a
  z-score. Off by default (a rule picks its period); on NAB a daily season scored 56.88 against 55.96 without;
- `shape`: how far the newest `SHAPE_LENGTH` values are, as a curve, from the nearest 3 curves of the previous
  `SHAPE_HISTORY` samples (Euclidean distance in units of the values' std): a break in a pattern whose values
  all look normal.

A feature's score is only surprising when it beats what the series has already shown: each keeps the largest
score of its last `record_span` samples (its record), and its ratio is score / record (1: as odd as the oddest
of the recent past). A record grows by at most `RECORD_GROWTH` times per sample, so one huge spike does not
blind the feature for `record_span` samples, and the first `RECORD_WARMUP` scored samples set none. The
method's score is the largest ratio, counted only at its onset: when it does not exceed the largest ratio of
the previous `rest_span` samples it is reported as 0, so a level shift is flagged once, at its start. Memory
is bounded (a few thousand numbers per series) and the state snapshots to JSON exactly.
"""

from __future__ import annotations

import statistics
from collections import deque
from typing import Any

import numpy as np

from services.common.domain.anomaly.detectors.running_stats import SlidingMax, SlidingStats

SCALES = (1, 8, 32)
DEFAULT_BASELINE_SPAN = 2000
DEFAULT_RECORD_SPAN = 2000
DEFAULT_REST_SPAN = 100
MAX_LAG = 2000
INTERVALS = 50  # sampling intervals that fix the season's lag (their median)
SHAPE_LENGTH = 40
SHAPE_HISTORY = 1000
SHAPE_NEIGHBOURS = 3
FLAT_Z = 50.0  # the z-score of a value that differs from a constant baseline
RECORD_FLOOR = 1.0  # a record below one standard deviation is no record
RECORD_GROWTH = 1.5  # a sample raises a record to at most this many times its current value
RECORD_WARMUP = 50  # the first samples scored (past min_baseline) set no record: the baseline is still small
Z_FEATURES = (*(f"mean_{s}" for s in SCALES), "season")
FEATURES = (*Z_FEATURES, "shape")
KEEP = max(MAX_LAG + 1, SHAPE_HISTORY + 2 * SHAPE_LENGTH)


class MultiScale:
    """The multiscale method's state: recent values, per-feature baselines and records, the onset gate."""

    def __init__(
        self,
        min_baseline: int,
        *,
        baseline_span: int | None = None,
        record_span: int | None = None,
        rest_span: int | None = None,
        season_seconds: float | None = None,
    ) -> None:
        self.min_baseline = min_baseline
        self.season_seconds = float(season_seconds) if season_seconds else None  # None: no season feature
        self.history: deque[float] = deque(maxlen=KEEP)
        self.curve_values: deque[float] = deque(maxlen=SHAPE_HISTORY + 2 * SHAPE_LENGTH - 1)
        self.baselines = {name: SlidingStats(baseline_span or DEFAULT_BASELINE_SPAN) for name in Z_FEATURES}
        self.records = {name: SlidingMax(record_span or DEFAULT_RECORD_SPAN) for name in FEATURES}
        self.onsets = SlidingMax(rest_span or DEFAULT_REST_SPAN)
        self.intervals: list[float] = []
        self.last_at: float | None = None
        self.lag: int | None = None
        self.decided = self.season_seconds is None  # the lag is fixed (or found out of range) once INTERVALS are seen
        self._cache: tuple[float, dict[str, tuple[float, float]], float] | None = None

    def baseline_size(self) -> int:
        return len(self.baselines["mean_1"])

    @property
    def ready(self) -> bool:
        return self.baseline_size() >= self.min_baseline

    def _measure(self, value: float) -> tuple[dict[str, tuple[float, float]], float]:
        """Per feature (value, score) of `value` joining the history, and the combined ratio."""
        if self._cache is not None and self._cache[0] == value:
            return self._cache[1], self._cache[2]
        found: dict[str, tuple[float, float]] = {}
        for name, feature in self._features(value).items():
            found[name] = (feature, self._z(name, feature))
        shape = self._shape(value)
        if shape is not None:
            found["shape"] = (shape, shape)
        combined = max(
            (score / max(self.records[n].peak(), RECORD_FLOOR) for n, (_, score) in found.items()), default=0.0
        )
        self._cache = (value, found, combined)
        return found, combined

    def _features(self, value: float) -> dict[str, float]:
        history, out = self.history, {}
        for scale in SCALES:
            if len(history) >= scale - 1:
                tail = [history[i] for i in range(len(history) - scale + 1, len(history))]
                out[f"mean_{scale}"] = (sum(tail) + value) / scale
        if self.lag is not None and len(history) >= self.lag:
            out["season"] = value - history[len(history) - self.lag]
        return out

    def _z(self, name: str, feature: float) -> float:
        baseline = self.baselines[name]
        if len(baseline) < self.min_baseline:
            return 0.0
        mean, std = baseline.mean_std()
        distance = abs(feature - mean)
        if std > 0:
            return distance / std
        return 0.0 if distance == 0 else FLAT_Z

    def _shape(self, value: float) -> float | None:
        if len(self.curve_values) < SHAPE_LENGTH + max(self.min_baseline, SHAPE_LENGTH + SHAPE_NEIGHBOURS):
            return None
        values = np.empty(len(self.curve_values) + 1)
        values[:-1] = np.fromiter(self.curve_values, dtype=float, count=len(self.curve_values))
        values[-1] = value
        count = len(values) - SHAPE_LENGTH + 1
        curves = np.lib.stride_tricks.as_strided(values, (count, SHAPE_LENGTH), (values.itemsize,) * 2, writeable=False)
        current, past = curves[-1], curves[: count - SHAPE_LENGTH]  # past curves end before this one starts
        spread = float(values[: len(past)].std())
        if spread <= 0:
            spread = max(float(np.abs(values[: len(past)]).mean()) * 0.01, 1e-9)
        squared = ((past - current) ** 2).sum(axis=1)
        nearest = np.sqrt(np.partition(squared, SHAPE_NEIGHBOURS - 1)[:SHAPE_NEIGHBOURS])
        return float(nearest.mean()) / spread

    def score(self, value: float, threshold: float) -> tuple[float, dict[str, Any]]:
        found, combined = self._measure(value)
        onset = combined > self.onsets.peak()
        mean, std = self.baselines["mean_1"].mean_std()
        reach = threshold * max(self.records["mean_1"].peak(), RECORD_FLOOR) * std
        details: dict[str, Any] = {"mean": mean, "std": std, "expected_band": [mean - reach, mean + reach]}
        details |= {f"score_{name}": score for name, (_, score) in found.items()}
        details |= {f"record_{name}": self.records[name].peak() for name in found}
        details |= {"ratio": combined, "onset": onset, "season_lag": self.lag}
        return (combined if onset else 0.0), details

    def learn(self, at: float, value: float) -> None:
        found, combined = self._measure(value)
        self._cache = None
        settled = self.baseline_size() >= self.min_baseline + RECORD_WARMUP
        for name, (feature, score) in found.items():
            record = max(self.records[name].peak(), RECORD_FLOOR)
            self.records[name].add(min(score, RECORD_GROWTH * record) if settled else 0.0)
            if name in self.baselines:
                self.baselines[name].add(feature)
        self.onsets.add(combined)
        self.history.append(value)
        self.curve_values.append(value)
        self._time(at)

    def _time(self, at: float) -> None:
        if not self.decided and self.last_at is not None and at > self.last_at:
            self.intervals.append(at - self.last_at)
            if len(self.intervals) == INTERVALS and self.season_seconds is not None:
                lag = round(self.season_seconds / statistics.median(self.intervals))
                self.lag = lag if 2 <= lag <= MAX_LAG else None
                self.decided, self.intervals = True, []
        self.last_at = at if self.last_at is None else max(self.last_at, at)

    def baseline(self) -> dict[str, Any]:
        stats: dict[str, Any] = {"season_lag": self.lag}
        for name in FEATURES:
            entry: dict[str, Any] = {"record": self.records[name].peak()}
            if name in self.baselines and len(self.baselines[name]):
                mean, std = self.baselines[name].mean_std()
                entry |= {"mean": mean, "std": std}
            stats[name] = entry
        return stats

    def snapshot(self) -> dict[str, Any]:
        return {
            "history": list(self.history),
            "baselines": {name: self.baselines[name].snapshot() for name in Z_FEATURES},
            "records": {name: self.records[name].snapshot() for name in FEATURES},
            "onsets": self.onsets.snapshot(),
            "intervals": self.intervals,
            "last_at": self.last_at,
            "lag": self.lag,
            "decided": self.decided,
        }

    def restore(self, data: dict[str, Any]) -> None:
        self.history = deque((float(v) for v in data["history"]), maxlen=KEEP)
        self.curve_values = deque(self.history, maxlen=SHAPE_HISTORY + 2 * SHAPE_LENGTH - 1)
        for name in Z_FEATURES:
            self.baselines[name].restore(data["baselines"][name])
        for name in FEATURES:
            self.records[name].restore(data["records"][name])
        self.onsets.restore(data["onsets"])
        self.intervals = [float(i) for i in data["intervals"]]
        self.last_at, self.lag, self.decided = data["last_at"], data["lag"], data["decided"]
        self._cache = None
