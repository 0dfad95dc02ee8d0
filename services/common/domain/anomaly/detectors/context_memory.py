"""A streaming context memory: which short sequences of quantised values a series has already shown.

After the CAD OSE idea (the "contextual anomaly detector, open source edition" of the NAB scoreboard: contexts of
discretised values, scored by how many of the current contexts are unseen), written from its description:
- each value is quantised to one of `LEVELS` levels spanning the smallest and largest value seen so far (values
  below that span get level -1, its top and above level LEVELS; learning a value widens the span);
- a context of order k is the last k levels; the memory counts every (context, next level) pair and every
  context for the orders `ORDERS`, and forgets the least recently used entries past `CAPACITY`;
- the surprise of a new value is (the share of the predicted contexts, those seen before, that it breaks + the
  share of its (context, level) pairs never seen) / 2 over the orders: 0 when every order saw this step before,
  1 when none did.

Memory is bounded (at most `CAPACITY` entries and a few numbers) and the state snapshots to JSON exactly.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from typing import Any

LEVELS = 5
ORDERS = (1, 2, 3, 4, 5, 6)
CAPACITY = 10_000


class ContextMemory:
    """Counts of (context, next level) pairs of one series, with the value range that sets the levels."""

    def __init__(self) -> None:
        self.low: float | None = None
        self.high: float | None = None
        self.levels: deque[int] = deque(maxlen=max(ORDERS))
        self.counts: OrderedDict[tuple[int, ...], int] = OrderedDict()  # (*context, level); (*context, _CONTEXT)

    def __len__(self) -> int:
        return len(self.counts)

    def level(self, value: float) -> int:
        """`value`'s level: 0 to LEVELS - 1 across [low, high), -1 below it, LEVELS at its top and above."""
        low, high = self.low, self.high
        if low is None or high is None:
            return 0
        if high <= low:
            return 0 if value == low else (-1 if value < low else LEVELS)
        position = (value - low) / (high - low) * LEVELS
        if not math.isfinite(position):  # a span beyond the float range
            return 0 if math.isnan(position) else (LEVELS if position > 0 else -1)
        return max(-1, min(LEVELS, math.floor(position)))

    def _contexts(self) -> list[tuple[int, ...]]:
        recent = tuple(self.levels)
        return [recent[len(recent) - k :] for k in ORDERS if len(recent) >= k]

    def surprise(self, value: float) -> float:
        """How new `value` is after the recent levels: 0 (every order saw it) to 1 (none did)."""
        contexts = self._contexts()
        if not contexts:
            return 0.0
        level = self.level(value)
        predicted = broken = unseen = 0
        for context in contexts:
            seen = (*context, level) in self.counts
            unseen += not seen
            if (*context, _CONTEXT) in self.counts:
                predicted += 1
                broken += not seen
        return 0.5 * ((broken / predicted if predicted else 0.0) + unseen / len(contexts))

    def start(self, recent: list[float]) -> None:
        """Begin remembering: the newest values, quantised on the span seen so far, become the first contexts."""
        self.levels.extend(self.level(value) for value in recent[len(recent) - max(ORDERS) :])

    def widen(self, value: float) -> None:
        """Let the level span cover `value` without remembering it (while the baseline fills)."""
        self.low = value if self.low is None else min(self.low, value)
        self.high = value if self.high is None else max(self.high, value)

    def learn(self, value: float) -> None:
        level = self.level(value)
        for context in self._contexts():
            for key in ((*context, level), (*context, _CONTEXT)):
                self.counts[key] = self.counts.get(key, 0) + 1
                self.counts.move_to_end(key)
        while len(self.counts) > CAPACITY:
            self.counts.popitem(last=False)
        self.levels.append(level)
        self.widen(value)

    def snapshot(self) -> dict[str, Any]:
        return {
            "low": self.low,
            "high": self.high,
            "levels": list(self.levels),
            "counts": [[list(key), count] for key, count in self.counts.items()],  # oldest first
        }

    def restore(self, data: dict[str, Any]) -> None:
        self.low = None if data["low"] is None else float(data["low"])
        self.high = None if data["high"] is None else float(data["high"])
        self.levels = deque((int(level) for level in data["levels"]), maxlen=max(ORDERS))
        self.counts = OrderedDict((tuple(int(part) for part in key), int(count)) for key, count in data["counts"])


_CONTEXT = LEVELS + 1  # the key ending that counts a context itself (no level reaches it)
