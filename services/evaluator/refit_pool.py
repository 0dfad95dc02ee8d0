"""Anomaly model refits off a shard's hot path: a small bounded thread pool that also meters what refits cost.

The shard state hands the pool to its engine as the `RefitExecutor` of every anomaly rule. The domain swaps a
refit started at sample n in at exactly sample n + `refit_lag` (services/common/domain/anomaly/detectors/refit.py), so
the scores are those of inline refits however slow the pool is; the pool only moves the fitting out of the
shard's loop. It counts refits run, seconds spent fitting (in its threads), and the waits: how often, and how
long, the shard blocked on a refit not done by its sample (the only refit time left on the hot path).

There is one pool per process (`for_process`): a Ray actor is a process of its own, so the pool lives exactly
as long as the shard incarnation whose counters it feeds, and a state rebuilt after a failure keeps using it.
Its threads start with the first refit and are joined when the process exits (`concurrent.futures` does that),
or by `shutdown`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from typing import Any, TypeVar

T = TypeVar("T")
DEFAULT_WORKERS = 2  # HBOS fits release the GIL in numpy/numba for part of the time; more would starve the loop


@dataclass(frozen=True)
class RefitFigures:
    """What the refits of one pool have cost so far (counters: they never go down)."""

    refits: int = 0
    refit_seconds: float = 0.0
    refit_waits: int = 0
    refit_wait_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Refit(Future[T]):
    """A refit's future: waiting on it before it is done counts as hot-path time on the pool's meter."""

    def __init__(self, pool: RefitPool) -> None:
        super().__init__()
        self._pool = pool

    def result(self, timeout: float | None = None) -> T:
        if self.done():
            return super().result(timeout)
        started = time.perf_counter()
        try:
            return super().result(timeout)
        finally:
            self._pool._record_wait(time.perf_counter() - started)


class RefitPool:
    """A `RefitExecutor` over a bounded `ThreadPoolExecutor`, metered (`figures`)."""

    _process_pool: RefitPool | None = None
    _process_lock = threading.Lock()

    def __init__(self, workers: int = DEFAULT_WORKERS) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="refit")
        self._lock = threading.Lock()
        self._figures = RefitFigures()

    @classmethod
    def for_process(cls) -> RefitPool:
        """This process's pool (made on first use): the shard actor's, shared by every state it builds."""
        with cls._process_lock:
            if cls._process_pool is None:
                cls._process_pool = cls()
            return cls._process_pool

    def submit(self, fn: Callable[[], T], /) -> Future[T]:
        """Run `fn` on a pool thread; its future's `result()` meters any wait."""
        future: _Refit[T] = _Refit(self)

        def run() -> None:
            if not future.set_running_or_notify_cancel():
                return
            started = time.perf_counter()
            try:
                result = fn()
            except BaseException as exc:  # handed to whoever waits for the refit
                self._record_fit(time.perf_counter() - started)
                future.set_exception(exc)
            else:
                self._record_fit(time.perf_counter() - started)  # counted before anyone sees the model
                future.set_result(result)

        self._executor.submit(run)
        return future

    def figures(self) -> RefitFigures:
        with self._lock:
            return self._figures

    def shutdown(self) -> None:
        """Finish the refits already started or queued, then stop the threads."""
        self._executor.shutdown(wait=True)

    def _record_fit(self, seconds: float) -> None:
        with self._lock:
            f = self._figures
            self._figures = replace(f, refits=f.refits + 1, refit_seconds=f.refit_seconds + seconds)

    def _record_wait(self, seconds: float) -> None:
        with self._lock:
            f = self._figures
            self._figures = replace(f, refit_waits=f.refit_waits + 1, refit_wait_seconds=f.refit_wait_seconds + seconds)
