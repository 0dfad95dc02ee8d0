"""Sliding windows: admission of late samples, eviction, every aggregation, snapshots."""

from __future__ import annotations

import json
import math

import pytest

from services.common.domain.windows.sliding import Admission, ExactSum, SlidingWindow, p95, rate


def window_of(samples: list[tuple[float, float]], length: float = 300) -> SlidingWindow:
    window = SlidingWindow(length)
    for at, value in samples:
        window.add(at, value)
    return window


def test_window_is_open_at_the_old_end_and_closed_at_the_new() -> None:
    window = window_of([(0, 1), (100, 2), (300, 3)])
    assert window.samples() == [(100, 2), (300, 3)]  # (T - 300, T] = (0, 300]


ADMISSION_CASES = [
    (350, Admission.IN_ORDER, [(100, 2), (300, 3), (350, 9)]),
    (300, Admission.IN_ORDER, [(100, 2), (300, 3), (300, 9)]),  # same time: in order, after the earlier one
    (1, Admission.LATE, [(1, 9), (100, 2), (300, 3)]),
    (0, Admission.TOO_LATE, [(100, 2), (300, 3)]),  # exactly one window late
    (-50, Admission.TOO_LATE, [(100, 2), (300, 3)]),
]


@pytest.mark.parametrize(("offered", "admission", "samples"), ADMISSION_CASES)
def test_admission(offered: float, admission: Admission, samples: list[tuple[float, float]]) -> None:
    window = window_of([(100, 2), (300, 3)])
    assert window.add(offered, 9) is admission
    assert admission.accepted == (admission is not Admission.TOO_LATE)
    assert window.samples() == samples


def test_a_late_sample_does_not_move_the_window() -> None:
    window = window_of([(100, 1), (300, 2)])
    window.add(50, 5)
    assert window.newest == 300
    window.add(360, 3)  # T=360: (60, 360] drops 50
    assert window.samples() == [(100, 1), (300, 2), (360, 3)]


AGGREGATE_CASES = [
    ("avg", [(0, 1), (10, 2), (20, 6)], 3.0),
    ("sum", [(0, 1), (10, 2), (20, 6)], 9.0),
    ("min", [(0, 4), (10, 2), (20, 6)], 2.0),
    ("max", [(0, 4), (10, 2), (20, 6)], 6.0),
    ("count", [(0, 4), (10, 2), (20, 6)], 3.0),
    ("count", [], 0.0),
    ("avg", [], None),
    ("p95", [(i, float(i)) for i in range(1, 21)], 19.0),  # rank ceil(0.95 * 20) = 19
    ("p95", [(i, float(i)) for i in range(1, 101)], 95.0),
    ("p95", [(0, 7)], 7.0),
    ("p95", [(0, 1), (1, 2)], 2.0),  # rank ceil(1.9) = 2
    ("rate", [(0, 10), (10, 30)], 2.0),
    ("rate", [(0, 10), (10, 30), (20, 5), (30, 15)], (20 + 5 + 10) / 30),  # reset at 20: +5
    ("rate", [(0, 10)], None),
    ("rate", [(0, 10), (0, 20)], None),  # no time between them
    ("rate", [(0, 10), (10, 10)], 0.0),
]


@pytest.mark.parametrize(("aggregation", "samples", "expected"), AGGREGATE_CASES)
def test_aggregate(aggregation: str, samples: list[tuple[float, float]], expected: float | None) -> None:
    assert window_of(samples).aggregate(aggregation) == expected


def test_rate_orders_late_samples_by_time() -> None:
    window = window_of([(0, 10), (20, 50), (10, 30)])
    assert window.aggregate("rate") == 2.0


def test_unknown_aggregation_and_bad_inputs() -> None:
    with pytest.raises(ValueError, match="unknown aggregation"):
        window_of([(0, 1)]).aggregate("median")
    with pytest.raises(ValueError):
        SlidingWindow(0)
    with pytest.raises(ValueError):
        SlidingWindow(10).add(0, float("nan"))


def test_p95_and_rate_helpers() -> None:
    assert p95([5, 1, 3]) == 5
    assert rate([0, 1, 2], [5, 3, 4]) == (3 + 1) / 2


def test_exact_sum_does_not_drift() -> None:
    total = ExactSum()
    for value in (1e16, 1.0, -1e16, 0.1, 0.2):
        total.add(value)
    total.remove(1e16)
    total.remove(-1e16)
    assert total.value == math.fsum([1.0, 0.1, 0.2])  # exact, where float addition would have lost the 1.0
    big = ExactSum()
    big.add(1.7e308)
    big.add(1.7e308)
    assert big.value == float("inf")


def test_sum_after_eviction_equals_a_fresh_sum() -> None:
    window = window_of([(0, 1e16), (1, 0.1), (2, 0.2), (400, 0.3)])
    assert window.samples() == [(400, 0.3)]
    assert window.aggregate("sum") == 0.3


def test_snapshot_round_trips_through_json() -> None:
    window = window_of([(0.5, 1.1), (10.25, 2.2), (5, 3.3)], length=60)
    data = json.loads(json.dumps(window.snapshot()))
    restored = SlidingWindow.restore(data)
    assert restored.samples() == window.samples()
    assert restored.newest == window.newest and restored.length == 60
    for aggregation in ("avg", "sum", "min", "max", "count", "p95", "rate"):
        assert restored.aggregate(aggregation) == window.aggregate(aggregation)
    assert restored.add(100, 1) == window.add(100, 1)


def test_a_snapshot_of_the_earlier_pairs_format_still_restores() -> None:
    window = window_of([(0.5, 1.1), (10.25, 2.2), (5, 3.3)], length=60)
    earlier = {"length": 60, "newest": window.newest, "samples": [[t, v] for t, v in window.samples()]}
    restored = SlidingWindow.restore(json.loads(json.dumps(earlier)))
    assert restored.samples() == window.samples() and restored.aggregate("p95") == window.aggregate("p95")
