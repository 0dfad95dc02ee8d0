"""pyod models used in a streaming way: a rolling training window per series, refitted every few samples.

Each value becomes a feature row: the value, its change since the previous value, and the gap between its
mean over the last 8 and the last 32 values (a level shift shows there before the value itself looks odd).
The model (pyod's HBOS, the one offered; ECOD, COPOD, LOF and IForest are in `MODELS` for `PyodWindow`
but not offered as rule methods: they cost milliseconds per scored row) is fitted on the last
`training_window` rows; a refit is started every `refit_every` samples on the executor and swapped in
`refit_lag` samples later (see refit.py).
The score is the model's outlier score of the row, relative to what it saw in training:
(score - median) / (max - median) of the training rows' scores, so 1 means "as odd as the oddest training row".

State is bounded (the last 32 values, the training rows, the rows the live model and a pending refit were
fitted on) and snapshots to JSON; a restore refits the live model from its rows, which gives the same model
(the pyod models used here are deterministic; IForest gets a fixed seed).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from services.common.domain.anomaly.detectors.refit import INLINE, PendingRefit, RefitExecutor

DEFAULT_TRAINING_WINDOW = 1000
DEFAULT_REFIT_EVERY = 250
DEFAULT_REFIT_LAG = 50
RECENT = 32


def _hbos() -> Any:
    from pyod.models.hbos import HBOS

    return HBOS()


def _ecod() -> Any:
    from pyod.models.ecod import ECOD

    return ECOD()


def _copod() -> Any:
    from pyod.models.copod import COPOD

    return COPOD()


def _iforest() -> Any:
    from pyod.models.iforest import IForest

    return IForest(n_estimators=50, random_state=0)


def _lof() -> Any:
    from pyod.models.lof import LOF

    return LOF()


MODELS: dict[str, Callable[[], Any]] = {
    "hbos": _hbos,
    "ecod": _ecod,
    "copod": _copod,
    "iforest": _iforest,
    "lof": _lof,
}


class Fitted:
    """A fitted pyod model and the spread of its training scores."""

    def __init__(self, name: str, rows: list[list[float]]) -> None:
        self.rows = rows
        self.model = MODELS[name]()
        self.model.fit(np.asarray(rows, dtype=float))
        scores = np.asarray(self.model.decision_scores_, dtype=float)
        self.median = float(np.median(scores))
        self.top = float(scores.max())

    def score(self, row: list[float]) -> float:
        raw = float(self.model.decision_function(np.asarray([row], dtype=float))[0])
        spread = self.top - self.median
        if spread > 0:
            return max(raw - self.median, 0.0) / spread
        return 0.0 if raw <= self.median else math.inf


class PyodWindow:
    """One pyod model per series over a rolling training window, refitted deterministically."""

    def __init__(
        self,
        name: str,
        min_baseline: int,
        *,
        executor: RefitExecutor = INLINE,
        training_window: int | None = None,
        refit_every: int | None = None,
        refit_lag: int | None = None,
    ) -> None:
        if name not in MODELS:
            raise ValueError(f"unknown pyod model {name!r}: use one of {', '.join(MODELS)}")
        self.name = name
        self.min_baseline = min_baseline
        self.executor = executor
        self.training_window = max(int(training_window or DEFAULT_TRAINING_WINDOW), min_baseline)  # room to start
        self.refit_every = int(refit_every or DEFAULT_REFIT_EVERY)
        lag = int(refit_lag if refit_lag is not None else DEFAULT_REFIT_LAG)
        self.refit_lag = min(lag, self.refit_every - 1)  # one refit in flight at a time
        self.recent: deque[float] = deque(maxlen=RECENT)
        self.rows: deque[list[float]] = deque(maxlen=self.training_window)
        self.seen = 0
        self.fitted: Fitted | None = None
        self.pending: PendingRefit | None = None
        self.refits = 0  # models swapped in since this series was built or restored (not snapshotted)

    @property
    def ready(self) -> bool:
        return self.fitted is not None

    def baseline_size(self) -> int:
        return len(self.rows)

    def _row(self, value: float) -> list[float]:
        window = [*self.recent, value]
        previous = window[-2] if len(window) > 1 else value
        short, long = window[-8:], window[-RECENT:]
        return [value, value - previous, sum(short) / len(short) - sum(long) / len(long)]

    def score(self, value: float, threshold: float) -> tuple[float, dict[str, Any]]:
        assert self.fitted is not None
        row = self._row(value)
        score = self.fitted.score(row)
        details = {"model": self.name, "training_rows": len(self.fitted.rows), "change": row[1], "shift": row[2]}
        return score, details | {"training_median": self.fitted.median, "training_max": self.fitted.top}

    def learn(self, at: float, value: float) -> None:
        self.rows.append(self._row(value))
        self.recent.append(value)
        self.seen += 1
        if self.pending is not None and self.seen >= self.pending.due:
            self.fitted = self.pending.future.result()  # waits only if the refit is not done yet
            self.pending = None
            self.refits += 1
        first = self.fitted is None and self.pending is None and len(self.rows) >= self.min_baseline
        if first or (self.fitted is not None and self.seen % self.refit_every == 0):
            self._start_refit([list(r) for r in self.rows], self.seen + self.refit_lag)

    def _start_refit(self, rows: list[list[float]], due: int) -> None:
        name = self.name
        self.pending = PendingRefit(self.executor.submit(lambda: Fitted(name, rows)), due, rows)

    def baseline(self) -> dict[str, Any]:
        stats: dict[str, Any] = {"model": self.name, "training_rows": len(self.rows), "refit_every": self.refit_every}
        stats["refits"] = self.refits
        if self.fitted is not None:
            stats |= {"fitted_rows": len(self.fitted.rows), "training_median": self.fitted.median}
            stats |= {"training_max": self.fitted.top}
        if self.pending is not None:
            stats["next_model_at_sample"] = self.pending.due
        return stats

    def snapshot(self) -> dict[str, Any]:
        pending = None if self.pending is None else {"rows": self.pending.rows, "due": self.pending.due}
        return {
            "recent": list(self.recent),
            "rows": [list(r) for r in self.rows],
            "seen": self.seen,
            "fitted_rows": None if self.fitted is None else self.fitted.rows,
            "pending": pending,
        }

    def restore(self, data: dict[str, Any]) -> None:
        self.recent = deque((float(v) for v in data["recent"]), maxlen=RECENT)
        self.rows = deque(([float(x) for x in r] for r in data["rows"]), maxlen=self.training_window)
        self.seen = int(data["seen"])
        rows = data["fitted_rows"]
        self.fitted = None if rows is None else Fitted(self.name, [[float(x) for x in r] for r in rows])
        self.pending = None
        if data["pending"] is not None:
            pending_rows = [[float(x) for x in r] for r in data["pending"]["rows"]]
            self._start_refit(pending_rows, int(data["pending"]["due"]))
