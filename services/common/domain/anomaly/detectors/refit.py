"""Model refits off the hot path, yet deterministic: started at sample n, swapped in at exactly sample n + lag.

A detector that refits a model hands the work to a `RefitExecutor` (anything with `submit(fn) -> Future`, e.g.
a `concurrent.futures.ThreadPoolExecutor`; the default `InlineExecutor` runs it at once). The fitted model is
swapped in when the series reaches sample n + lag, waiting for the future only if it is not done yet, so the
scores never depend on how fast the executor was: a replay after a snapshot gives the same alerts.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class RefitExecutor(Protocol):
    """Runs a refit; `concurrent.futures.ThreadPoolExecutor` is one."""

    def submit(self, fn: Callable[[], Any], /) -> Future[Any]: ...


class InlineExecutor:
    """Runs the refit in the caller at once (NAB, backtests, tests)."""

    def submit(self, fn: Callable[[], T], /) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(fn())
        except BaseException as exc:  # handed to whoever waits for the result
            future.set_exception(exc)
        return future


INLINE = InlineExecutor()


class PendingRefit:
    """A refit started at one sample, due at a later one (`due`, counted in samples learned)."""

    def __init__(self, future: Future[Any], due: int, rows: list[list[float]]) -> None:
        self.future = future
        self.due = due
        self.rows = rows  # what it was fitted on: a restore refits from these
