"""Many `RunningWindow`s in columns: one slot per window, a whole batch of samples taken and judged at once.

A slot is what a `RunningWindow` is (the samples of one series over (T - length, T], a running sum with a bound on
its rounding error), held in numpy arrays: per slot a ring of (time, value) samples, its head and tail positions,
its newest time, its length, running sum, magnitude and operation count. `take` adds one sample to each of many
slots and `holds` judges a threshold over each, with a handful of array operations per call whatever the number
of slots, where the objects cost one method call per window per sample.

Every admission, eviction, value and verdict is the `RunningWindow`'s (and so the reference `SlidingWindow`'s):
in-order samples are appended and move the window, a late one is inserted in place while it is within one window
length of the newest (a Python step for that slot; late samples are rare), otherwise refused; a verdict whose
running aggregate lies within the error bound of the threshold is taken from the exact sum (`math.fsum`).
`tests/common/domain/evaluation/test_window_columns.py` holds it to the reference with random streams.

Groundwork for columnar lanes (issue 16): the shards' engine does not use it yet.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from services.common.domain.evaluation.compiled.running_window import (
    RESYNC_EVERY,
    ROUNDING,
    TESTS,
    exact_aggregate,
    exact_sum,
)

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.intp]
Bools = npt.NDArray[np.bool_]

_COLUMN_TESTS: dict[str, Callable[[Any, Any], Bools]] = {
    ">": np.greater,
    ">=": np.greater_equal,
    "<": np.less,
    "<=": np.less_equal,
    "==": np.equal,
    "!=": np.not_equal,
}
_RUNNING = ("avg", "sum", "count")


class WindowColumns:
    """Sliding windows in slots (`open` one per series window), taken and judged many slots at a time."""

    def __init__(self, slots: int = 64, samples: int = 16) -> None:
        if slots < 1 or samples < 1:
            raise ValueError("a window column holds at least one slot of one sample")
        capacity = 1 << (samples - 1).bit_length()  # a power of two: a ring position is `position & mask`
        self._mask = capacity - 1
        self._times: Floats = np.zeros((slots, capacity))
        self._values: Floats = np.zeros((slots, capacity))
        self._head: Ints = np.zeros(slots, np.intp)  # position of the oldest sample (positions only grow)
        self._tail: Ints = np.zeros(slots, np.intp)  # position after the newest sample
        self._newest: Floats = np.full(slots, -np.inf)  # -inf: no sample yet (None in a snapshot)
        self._length: Floats = np.ones(slots)
        self._total: Floats = np.zeros(slots)
        self._magnitude: Floats = np.zeros(slots)
        self._operations: Ints = np.zeros(slots, np.intp)
        self._free = list(range(slots - 1, -1, -1))
        self._open: Bools = np.zeros(slots, np.bool_)
        self._marks: Ints = np.zeros(slots, np.intp)  # scratch: finds a slot repeated in one batch

    # -- slots -----------------------------------------------------------------------------------------------------

    def open(self, length_seconds: float) -> int:
        """A new empty window of `length_seconds`: its slot."""
        if not length_seconds > 0:
            raise ValueError("a window length is a positive number of seconds")
        if not self._free:
            self._add_slots(len(self._head))
        slot = self._free.pop()
        self._open[slot] = True
        self._length[slot] = float(length_seconds)
        self._newest[slot] = -np.inf
        self._head[slot] = self._tail[slot] = 0
        self._total[slot] = self._magnitude[slot] = 0.0
        self._operations[slot] = 0
        return slot

    def close(self, slot: int) -> None:
        """Free the slot (its window is gone)."""
        self._check_open(slot)
        self._open[slot] = False
        self._free.append(slot)

    def restore(self, data: dict[str, Any]) -> int:
        """A slot holding a window's `snapshot()` (`SlidingWindow.snapshot` format)."""
        slot = self.open(data["length"])
        times, values = [float(at) for at in data["times"]], [float(value) for value in data["values"]]
        if len(times) != len(values):
            raise ValueError("a window snapshot has as many times as values")
        self._reserve(len(times))
        positions = np.arange(len(times)) & self._mask
        self._times[slot, positions] = times
        self._values[slot, positions] = values
        self._tail[slot] = len(times)
        newest = data["newest"]
        self._newest[slot] = -np.inf if newest is None else float(newest)
        self._resync(slot)
        return slot

    # -- a batch ---------------------------------------------------------------------------------------------------

    def take(
        self, slots: Sequence[int] | Ints, times: Sequence[float] | Floats, values: Sequence[float] | Floats
    ) -> Bools:
        """Offer sample (times[i], values[i]) to slot slots[i], for every i at once: which were accepted.

        Slots are distinct and open; values are finite (a sample's number, as `RunningWindow.take` takes it).
        A refused sample (more than one window length older than its slot's newest) changes nothing.
        """
        slot_array = np.asarray(slots, np.intp)
        at = np.asarray(times, np.float64)
        value = np.asarray(values, np.float64)
        if not slot_array.shape == at.shape == value.shape or slot_array.ndim != 1:
            raise ValueError("take needs as many times and values as slots, in one dimension")
        if slot_array.size == 0:
            return np.zeros(0, np.bool_)
        if not self._open[slot_array].all():
            raise ValueError("take offers samples to open slots only")
        order = np.arange(slot_array.size)
        self._marks[slot_array] = order  # a repeated slot keeps only its last index
        if not (self._marks[slot_array] == order).all():
            raise ValueError("take offers one sample per slot: split a batch where a slot repeats")
        if not np.isfinite(value).all():
            raise ValueError("a window sample is a finite number")
        newest = self._newest[slot_array]
        late = at < newest
        accepted = ~late | (at > newest - self._length[slot_array])
        for index in np.flatnonzero(late & accepted).tolist():
            self._insert(int(slot_array[index]), float(at[index]), float(value[index]))
        in_order = ~late
        if not in_order.all():
            slot_array, at, value, newest = slot_array[in_order], at[in_order], value[in_order], newest[in_order]
        self._append(slot_array, at, value)
        taken = slot_array
        moves = at > newest  # the newest moves: samples at or before the new edge leave
        if not moves.all():
            slot_array, at = slot_array[moves], at[moves]
        self._newest[slot_array] = at
        self._evict(slot_array, at - self._length[slot_array])
        self._resync_worn(taken)
        return accepted

    def holds(
        self, slots: Sequence[int] | Ints, aggregation: str, operator: str, thresholds: Sequence[float] | Floats
    ) -> Bools:
        """`aggregate(slot, aggregation) <operator> threshold` for every slot at once (avg, sum or count).

        The slots are open and, for avg and sum, hold a sample. A running aggregate farther from its threshold than
        its error bound decides alone; the others are computed exactly, so every verdict is the exact one.
        """
        if aggregation not in _RUNNING:
            raise ValueError(f"holds judges {', '.join(_RUNNING)}, not {aggregation!r}")
        test = _COLUMN_TESTS[operator]
        slot_array = np.asarray(slots, np.intp)
        threshold = np.asarray(thresholds, np.float64)
        if not self._open[slot_array].all():
            raise ValueError("holds judges open slots only")
        count = self._tail[slot_array] - self._head[slot_array]
        if aggregation == "count":
            return np.asarray(test(count.astype(np.float64), threshold))
        if (count == 0).any():
            raise ValueError(f"{aggregation} of an empty window is undefined")
        with np.errstate(over="ignore", invalid="ignore"):
            total = self._total[slot_array]
            # As RunningWindow.holds: the exact aggregate is within `bound` of the running one.
            bound = 4.0 * (self._operations[slot_array] * self._magnitude[slot_array] + np.abs(total)) * ROUNDING
            bound += 1e-300
            if aggregation == "avg":
                total = total / count
                bound = bound / count
            distance = total - threshold
            decided = (distance > bound) | (-distance > bound)
            verdicts = np.asarray(test(total, threshold))
        if not decided.all():
            exact_test = TESTS[operator]
            for index in np.flatnonzero(~decided).tolist():
                exact = self.aggregate(int(slot_array[index]), aggregation)
                verdicts[index] = exact_test(exact, float(threshold[index]))
        return verdicts

    # -- one slot --------------------------------------------------------------------------------------------------

    def samples(self, slot: int) -> tuple[list[float], list[float]]:
        """The slot's (times, values), oldest first."""
        self._check_open(slot)
        positions = np.arange(self._head[slot], self._tail[slot]) & self._mask
        return self._times[slot, positions].tolist(), self._values[slot, positions].tolist()

    def newest(self, slot: int) -> float | None:
        self._check_open(slot)
        newest = float(self._newest[slot])
        return None if newest == -np.inf else newest

    def aggregate(self, slot: int, aggregation: str) -> float | None:
        """`RunningWindow.aggregate`, exactly: None when undefined (empty, or rate of fewer than two samples)."""
        return exact_aggregate(*self.samples(slot), aggregation)

    def snapshot(self, slot: int) -> dict[str, Any]:
        """The slot's window in `SlidingWindow.snapshot` format."""
        times, values = self.samples(slot)
        return {"length": float(self._length[slot]), "newest": self.newest(slot), "times": times, "values": values}

    # -- inside ----------------------------------------------------------------------------------------------------

    def _append(self, slots: Ints, at: Floats, value: Floats) -> None:
        self._reserve(int((self._tail[slots] - self._head[slots]).max(initial=0)) + 1)
        positions = self._tail[slots] & self._mask
        self._times[slots, positions] = at
        self._values[slots, positions] = value
        self._tail[slots] += 1
        with np.errstate(over="ignore", invalid="ignore"):
            self._total[slots] += value
            self._magnitude[slots] += np.abs(value)
        self._operations[slots] += 1

    def _evict(self, slots: Ints, edges: Floats) -> None:
        """Drop from each slot the samples at or before its edge: never the newest, unless its time minus the
        length rounds back to itself (times near the float range's end), where the reference empties the window."""
        while slots.size:
            heads = self._head[slots]
            leaving = (heads < self._tail[slots]) & (self._times[slots, heads & self._mask] <= edges)
            if not leaving.all():
                slots, edges, heads = slots[leaving], edges[leaving], heads[leaving]
                if not slots.size:
                    break
            with np.errstate(over="ignore", invalid="ignore"):
                self._total[slots] -= self._values[slots, heads & self._mask]
            self._head[slots] = heads + 1
            self._operations[slots] += 1

    def _insert(self, slot: int, at: float, value: float) -> None:
        """A late sample (within one length of the newest) put in time order, after samples of the same time."""
        times, values = self.samples(slot)
        index = bisect.bisect_right(times, at)
        times.insert(index, at)
        values.insert(index, value)
        self._reserve(len(times))
        positions = (self._head[slot] + np.arange(len(times))) & self._mask
        self._times[slot, positions] = times
        self._values[slot, positions] = values
        self._tail[slot] += 1
        with np.errstate(over="ignore", invalid="ignore"):
            self._total[slot] += value
            self._magnitude[slot] += abs(value)
        self._operations[slot] += 1
        self._resync_worn(np.asarray([slot], np.intp))

    def _resync_worn(self, slots: Ints) -> None:
        for slot in slots[self._operations[slots] >= RESYNC_EVERY].tolist():
            self._resync(slot)

    def _resync(self, slot: int) -> None:
        _, values = self.samples(slot)
        self._operations[slot] = 0
        self._total[slot] = exact_sum(values)
        self._magnitude[slot] = sum(map(abs, values))  # inf past the float range: then every verdict is exact

    def _reserve(self, samples: int) -> None:
        """Room for `samples` samples in every slot's ring (doubling the rings, positions kept)."""
        capacity = self._mask + 1
        if samples <= capacity:
            return
        while capacity < samples:
            capacity *= 2
        mask = capacity - 1
        times, values = np.zeros((len(self._head), capacity)), np.zeros((len(self._head), capacity))
        for slot in np.flatnonzero(self._tail > self._head).tolist():
            positions = np.arange(self._head[slot], self._tail[slot])
            times[slot, positions & mask] = self._times[slot, positions & self._mask]
            values[slot, positions & mask] = self._values[slot, positions & self._mask]
        self._times, self._values, self._mask = times, values, mask

    def _add_slots(self, more: int) -> None:
        start = len(self._head)
        width = self._mask + 1
        self._times = np.vstack([self._times, np.zeros((more, width))])
        self._values = np.vstack([self._values, np.zeros((more, width))])
        self._head = np.concatenate([self._head, np.zeros(more, np.intp)])
        self._tail = np.concatenate([self._tail, np.zeros(more, np.intp)])
        self._newest = np.concatenate([self._newest, np.full(more, -np.inf)])
        self._length = np.concatenate([self._length, np.ones(more)])
        self._total = np.concatenate([self._total, np.zeros(more)])
        self._magnitude = np.concatenate([self._magnitude, np.zeros(more)])
        self._operations = np.concatenate([self._operations, np.zeros(more, np.intp)])
        self._open = np.concatenate([self._open, np.zeros(more, np.bool_)])
        self._marks = np.concatenate([self._marks, np.zeros(more, np.intp)])
        self._free.extend(range(start + more - 1, start - 1, -1))

    def _check_open(self, slot: int) -> None:
        if not (0 <= slot < len(self._open) and self._open[slot]):
            raise ValueError(f"window slot {slot} is not open")
