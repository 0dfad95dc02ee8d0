"""The shard process's garbage collector: young-generation collections every 20,000 allocations, not every 700.

The engine allocates a few small containers per event (a sample tuple, transitions) and holds hundreds of thousands
of long-lived ones (series, windows, episodes) that form no cycles. With CPython's default threshold (700) the young
generation is collected every few dozen events, and the older ones, traversing all the held state, follow as it
grows: on the benchmark's product workload (1,000 rules, 10,000 series keys) that was over a third of the engine's
time (docs/benchmarks.md, "The compiled engine, before and after"). A larger threshold keeps collections rare;
garbage in cycles lives a little longer. Reference counting frees everything else at once, as before.
"""

from __future__ import annotations

import contextlib
import gc
import os
import threading
from collections.abc import Iterator

DEFAULT_GC_THRESHOLD = 20_000  # CEP_SHARD_GC_THRESHOLD: allocations between young-generation collections
MAX_GC_THRESHOLD = 1_000_000


def tune_collector(threshold: int) -> tuple[int, int, int]:
    """Collect the young generation every `threshold` allocations (0: leave Python's own setting); the older
    generations keep their thresholds. Returns the thresholds before, for `gc.set_threshold(*before)`."""
    before = gc.get_threshold()
    if threshold:
        gc.set_threshold(threshold, before[1], before[2])
    return before


class _Pauses:
    """The `collector_paused` blocks running now (the consume loop's and a snapshot build's may overlap)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.was_on = True  # whether collection was on when the first of them began

    def begin(self) -> None:
        with self.lock:
            if self.running == 0:
                self.was_on = gc.isenabled()
                gc.disable()
            self.running += 1

    def end(self) -> None:
        with self.lock:
            self.running -= 1
            if self.running == 0 and self.was_on:
                gc.enable()


_PAUSES = _Pauses()


def _after_fork_in_child() -> None:
    """A forked child (snapshot_fork.py) starts with no pause running and a lock no other thread holds."""
    global _PAUSES
    _PAUSES = _Pauses()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No garbage collection while the block runs (in any thread), for work that allocates hundreds of thousands
    of objects in no cycle (a snapshot's capture and encoding): each young collection it would trigger may carry
    an old one, traversing the whole held state while the interpreter is held. Collection resumes after the last
    such block ends, if it was on before the first began."""
    _PAUSES.begin()
    try:
        yield
    finally:
        _PAUSES.end()
