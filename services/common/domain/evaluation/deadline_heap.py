"""The timers a rule engine's series arm: a heap of (deadline, rule id, group key), rebuilt when it grows stale.

Re-arming a series pushes a new entry and leaves the old one in place: a stale entry only makes the series run a
tick that changes nothing. The heap is rebuilt from the live series once it holds twice as many entries as then.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from datetime import datetime

_MIN_CAP = 64


class Timers:
    """Deadlines per (rule id, group key); stale entries allowed."""

    def __init__(self) -> None:
        self._heap: list[tuple[datetime, str, str]] = []
        self._cap = _MIN_CAP

    def __len__(self) -> int:
        return len(self._heap)

    def arm(self, deadline: datetime, rule_id: str, key: str) -> bool:
        """Add a deadline; True when the heap has grown past its cap and wants `rebuild`."""
        heapq.heappush(self._heap, (deadline, rule_id, key))
        return len(self._heap) > self._cap

    def due(self, now: datetime) -> set[tuple[str, str]]:
        """Take the (rule id, group key) of every deadline at or before `now`."""
        found: set[tuple[str, str]] = set()
        while self._heap and self._heap[0][0] <= now:
            _, rule_id, key = heapq.heappop(self._heap)
            found.add((rule_id, key))
        return found

    def rebuild(self, live: Iterable[tuple[datetime, str, str]]) -> None:
        """Replace every entry with the live deadlines; the next rebuild comes when their number doubles."""
        self._heap = list(live)
        heapq.heapify(self._heap)
        self._cap = max(_MIN_CAP, 2 * len(self._heap))  # amortised: rebuild when it doubles
