"""Pauses no request under test caused: this process's garbage collections, and the machine running nothing.

Tests that one client cannot stall another time requests in wall-clock seconds. On a loaded 2-core CI machine, late
in a session of thousands of tests, two things pause a request without the server being at fault: a full garbage
collection of the session's heap (it holds the GIL, so every thread of the test process stops, the in-process
server's included), and the machine not running anything for a while. `Stalls` records both: the collector's own
callbacks, and a child process that only sleeps and notes when it woke late. The child shares nothing with this
process, so a lock held here (a template's C-level work holding the GIL, say) does not delay it: such a stall is
still the server's.

A request's latency less the stalls overlapping it is what the server is to blame for.
"""

from __future__ import annotations

import gc
import subprocess
import sys
import time
from types import TracebackType
from typing import Any

TICK = 0.01  # how long the child sleeps between looks at the clock
LATE = 0.1  # a wake-up later than this is a stall of the machine
# CLOCK_MONOTONIC is one clock for every process of the machine, so the child's times compare with this process's.
_WATCHER = f"""
import time
while True:
    before = time.monotonic()
    time.sleep({TICK})
    after = time.monotonic()
    if after - before > {TICK + LATE}:
        print(before + {TICK}, after, flush=True)
"""


class Stalls:
    """Collections of this process and stalls of the machine, while in the `with` block."""

    def __init__(self) -> None:
        self.spans: list[tuple[float, float]] = []
        self._collecting: float | None = None
        self._watcher: subprocess.Popen[str] | None = None

    def __enter__(self) -> Stalls:
        gc.callbacks.append(self._collection)
        self._watcher = subprocess.Popen([sys.executable, "-c", _WATCHER], stdout=subprocess.PIPE, text=True)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        gc.callbacks.remove(self._collection)
        assert self._watcher is not None
        self._watcher.kill()
        out, _ = self._watcher.communicate(timeout=10)
        for line in out.splitlines():
            start, end = (float(part) for part in line.split())
            self.spans.append((start, end))

    def _collection(self, phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            self._collecting = time.monotonic()
        elif self._collecting is not None:
            self.spans.append((self._collecting, time.monotonic()))
            self._collecting = None

    def within(self, start: float, end: float) -> float:
        """Seconds of [start, end] during which something stalled (overlapping stalls counted once)."""
        clipped = sorted((max(start, low), min(end, high)) for low, high in self.spans if low < end and high > start)
        total, reached = 0.0, start
        for low, high in clipped:
            low = max(low, reached)
            if high > low:
                total += high - low
                reached = high
        return total
