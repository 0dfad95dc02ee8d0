"""Sliding windows against a naive oracle that recomputes everything from the list of accepted samples."""

from __future__ import annotations

import itertools
import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.domain.windows.sliding import AGGREGATIONS, Admission, SlidingWindow

LENGTH = 60.0

# Arbitrary orders of times over five window lengths: samples jump forward, come late, or too late.
samples_in_any_order = st.lists(
    st.tuples(st.integers(min_value=0, max_value=300).map(float), st.floats(-1e6, 1e6)), min_size=1, max_size=40
)


class Oracle:
    """Everything accepted, in arrival order; the window and aggregates recomputed from scratch each time."""

    def __init__(self) -> None:
        self.accepted: list[tuple[float, float]] = []

    @property
    def newest(self) -> float | None:
        return max((t for t, _ in self.accepted), default=None)

    def add(self, at: float, value: float) -> bool:
        newest = self.newest
        if newest is not None and at <= newest - LENGTH:
            return False
        self.accepted.append((at, value))
        return True

    def window(self) -> list[tuple[float, float]]:
        newest = self.newest
        inside = [(t, v) for t, v in self.accepted if newest is not None and t > newest - LENGTH]
        return sorted(inside, key=lambda sample: sample[0])  # stable: ties stay in arrival order

    def aggregate(self, aggregation: str) -> float | None:
        samples = self.window()
        vals = [v for _, v in samples]
        if aggregation == "count":
            return float(len(vals))
        if not vals:
            return None
        if aggregation == "sum":
            return math.fsum(vals)
        if aggregation == "avg":
            return math.fsum(vals) / len(vals)
        if aggregation in ("min", "max"):
            return min(vals) if aggregation == "min" else max(vals)
        if aggregation == "p95":
            return sorted(vals)[math.ceil(len(vals) * 95 / 100) - 1]
        if len(samples) < 2 or samples[-1][0] == samples[0][0]:
            return None
        increase = 0.0
        for (_, before), (_, after) in itertools.pairwise(samples):
            increase += after - before if after >= before else after
        return increase / (samples[-1][0] - samples[0][0])


@settings(max_examples=200, deadline=None)
@given(samples=samples_in_any_order)
def test_window_matches_the_oracle(samples: list[tuple[float, float]]) -> None:
    window, oracle = SlidingWindow(LENGTH), Oracle()
    for at, value in samples:
        admission = window.add(at, value)
        assert admission.accepted == oracle.add(at, value)
        assert window.samples() == oracle.window()
        for aggregation in AGGREGATIONS:
            assert window.aggregate(aggregation) == oracle.aggregate(aggregation), aggregation


@settings(max_examples=100, deadline=None)
@given(samples=samples_in_any_order, cut=st.integers(0, 40))
def test_snapshot_then_restore_changes_nothing(samples: list[tuple[float, float]], cut: int) -> None:
    straight, resumed = SlidingWindow(LENGTH), SlidingWindow(LENGTH)
    for index, (at, value) in enumerate(samples):
        if index == cut:
            resumed = SlidingWindow.restore(json.loads(json.dumps(resumed.snapshot())))
        assert straight.add(at, value) is resumed.add(at, value)
    assert straight.samples() == resumed.samples()
    assert [straight.aggregate(a) for a in AGGREGATIONS] == [resumed.aggregate(a) for a in AGGREGATIONS]


def test_admission_values_are_reasons() -> None:
    assert "older than one window length" in Admission.TOO_LATE
