"""A shard's snapshots as its consume loop takes them: captured under the state lock (the rules changed, the series
snapshots cached or cheap, and private frozen copies of the others), then built, encoded to JSON, outside it and in
a thread, in the order captured. The lock is held for O(series captured) copies, not for their encoding: at 100k
threshold series that is a fraction of the seconds an encoding takes."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from services.common.domain.evaluation.series_capture import SeriesCapture
from services.evaluator.collector import collector_paused
from services.evaluator.processor import ShardState
from services.evaluator.snapshot_bodies import ShardDelta, ShardSnapshot
from services.evaluator.work import RawDone


@dataclass
class Captured:
    """A snapshot as of sequence `seq`: a full `ShardSnapshot` (`base`, the chain's new base) or a `ShardDelta`
    from the capture before; `cost` is the time the lock was held, `state` and `capture` what `built` came from."""

    seq: int
    series: int
    cost: float
    state: ShardState
    capture: SeriesCapture | None  # None for a snapshot a forked child built (snapshot_fork.py)
    build: Callable[[], bytes]
    base: bool = False
    body: bytes | None = None

    def built(self) -> bytes:
        """The snapshot JSON, encoding the frozen series the first time (from any thread: they are private)."""
        if self.body is None:
            with collector_paused():
                self.body = self.build()
        return self.body


def capture_full(state: ShardState, seq: int, raw_done: RawDone, began: float | None = None) -> Captured:
    """Every rule and series as of `seq` (the caller holds the lock)."""
    began = time.monotonic() if began is None else began
    with collector_paused():
        rules, capture = state.capture()

    def build() -> bytes:
        return ShardSnapshot(seq, rules, capture.finish(), raw_done).json()

    return Captured(seq, state.series_count(), time.monotonic() - began, state, capture, build, base=True)


def capture_delta(state: ShardState, seq: int, after: int, raw_done: RawDone, ratio: float) -> Captured | None:
    """What changed since the capture at `after` (the caller holds the lock); None when nothing did.

    When the changes cover `ratio` of the series or more (a busy shard whose series nearly all moved), the whole
    state is captured instead and becomes the chain's new base: it costs about what the delta would, and the
    writer then has no stored base to decode and bring forward (`rebase`), which holds the interpreter for seconds.
    """
    began = time.monotonic()
    series = state.series_count()
    if state.pending_changes() >= ratio * max(series, 1):
        return capture_full(state, seq, raw_done, began)
    with collector_paused():
        rules, capture = state.capture_changes()
    if not rules and not capture.body["rules"] and seq == after:
        return None

    def build() -> bytes:
        return ShardDelta(seq, after, rules, capture.finish(), raw_done).json()

    return Captured(seq, series, time.monotonic() - began, state, capture, build)
