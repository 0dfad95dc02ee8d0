"""`WindowColumns` against `RunningWindow` and `SlidingWindow`: many windows taken and judged at once, each giving the
reference's admissions, samples, values and verdicts whatever the floats, lengths and lateness."""

from __future__ import annotations

import operator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.domain.evaluation.compiled.running_window import RunningWindow
from services.common.domain.evaluation.compiled.window_columns import WindowColumns
from services.common.domain.windows.sliding import SlidingWindow

OPERATORS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq}
OPERATORS["!="] = operator.ne
values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(min_value=-100, max_value=100, allow_nan=False),
    st.sampled_from([0.1, 0.2, 0.3, -0.0, 1e16, -1e16, 1.0, 2.5, 1e308, -1e308, 5e-324]),
)
thresholds = st.one_of(st.sampled_from([0.0, 0.1, 0.2, 0.3, 0.6, 1.0, 2.5, 1e16]), st.floats(-200, 200))
# One batch: per window, nothing or a sample (a step of its clock, which may go back, and a value).
batch = st.lists(st.one_of(st.none(), st.tuples(st.integers(-40, 60), values)), min_size=4, max_size=4)


@settings(max_examples=300, deadline=None)
@given(
    lengths=st.lists(st.sampled_from([0.001, 10.0, 30.0, 60.0, 600.0]), min_size=4, max_size=4),
    batches=st.lists(batch, min_size=1, max_size=60),
    threshold=thresholds,
)
def test_every_slot_gives_the_reference_windows_admissions_values_and_verdicts(
    lengths: list[float], batches: list[list[tuple[int, float] | None]], threshold: float
) -> None:
    columns = WindowColumns(slots=2, samples=2)  # small: the slots and the rings grow on the way
    slots = [columns.open(length) for length in lengths]
    references = [SlidingWindow(length) for length in lengths]
    clocks = [0.0] * len(lengths)
    for samples in batches:
        offered = [
            (k, step, value) for k, sample in enumerate(samples) if sample is not None for step, value in [sample]
        ]
        for k, step, _ in offered:
            clocks[k] += step
        accepted = columns.take(
            [slots[k] for k, _, _ in offered], [clocks[k] for k, _, _ in offered], [value for *_, value in offered]
        )
        assert accepted.tolist() == [references[k].add(clocks[k], value).accepted for k, _, value in offered]
        for k, reference in enumerate(references):
            assert columns.snapshot(slots[k]) == reference.snapshot()
            for aggregation in ("avg", "sum", "count", "rate", "min", "max", "p95"):
                assert repr(columns.aggregate(slots[k], aggregation)) == repr(
                    RunningWindow.of(reference).aggregate(aggregation)
                )
        held = [k for k, reference in enumerate(references) if len(reference)]
        for aggregation in ("avg", "sum", "count"):
            for name, test in OPERATORS.items():
                verdicts = columns.holds([slots[k] for k in held], aggregation, name, [threshold] * len(held))
                exact = [test(_defined(references[k].aggregate(aggregation)), threshold) for k in held]
                assert verdicts.tolist() == exact, (aggregation, name)


def test_a_slot_restored_from_a_snapshot_continues_as_the_reference() -> None:
    reference = SlidingWindow(30.0)
    for at, value in [(0.0, 1.0), (10.0, 2.0), (20.0, 4.0), (15.0, 8.0)]:
        reference.add(at, value)
    columns = WindowColumns()
    slot = columns.restore(reference.snapshot())
    assert columns.snapshot(slot) == reference.snapshot()
    assert columns.take([slot], [40.0], [16.0]).tolist() == [reference.add(40.0, 16.0).accepted]
    assert columns.snapshot(slot) == reference.snapshot()
    assert columns.holds([slot], "avg", ">", [9.0]).tolist() == [_defined(reference.aggregate("avg")) > 9.0]


def test_a_closed_slot_is_reused_empty_and_refused_until_then() -> None:
    columns = WindowColumns(slots=1)
    slot = columns.open(10.0)
    columns.take([slot], [5.0], [1.0])
    columns.close(slot)
    with pytest.raises(ValueError, match="not open"):
        columns.snapshot(slot)
    with pytest.raises(ValueError, match="open slots"):
        columns.take([slot], [6.0], [1.0])
    again = columns.open(60.0)
    assert again == slot
    assert columns.snapshot(again) == {"length": 60.0, "newest": None, "times": [], "values": []}


def test_a_batch_is_one_sample_per_slot_of_finite_numbers() -> None:
    columns = WindowColumns()
    a, b = columns.open(10.0), columns.open(10.0)
    with pytest.raises(ValueError, match="one sample per slot"):
        columns.take([a, a], [1.0, 2.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="finite"):
        columns.take([a, b], [1.0, 1.0], [1.0, float("nan")])
    with pytest.raises(ValueError, match="as many"):
        columns.take([a, b], [1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="empty window"):
        columns.holds([a], "avg", ">", [0.0])
    with pytest.raises(ValueError, match="judges avg, sum, count"):
        columns.holds([a], "p95", ">", [0.0])
    with pytest.raises(ValueError, match="positive"):
        columns.open(0.0)
    assert columns.snapshot(a)["times"] == []  # the refused batches changed nothing


def test_a_long_window_past_many_resyncs_keeps_exact_verdicts() -> None:
    """Thousands of samples through one slot (running sums resynced every 1,024 operations) next to the reference,
    with values whose float sums drift."""
    columns, reference = WindowColumns(samples=4), SlidingWindow(50.0)
    slot = columns.open(50.0)
    rng = np.random.default_rng(7)
    for n, value in enumerate(rng.choice([0.1, 0.2, 0.3, 1e16, -1e16, 0.7], size=5000).tolist()):
        assert columns.take([slot], [float(n)], [value]).tolist() == [True]
        reference.add(float(n), value)
        exact = _defined(reference.aggregate("avg"))
        for threshold in (exact, 0.3, 0.0):
            assert columns.holds([slot], "avg", ">=", [threshold]).tolist() == [exact >= threshold]
    assert columns.snapshot(slot) == reference.snapshot()


def test_the_edges_of_lateness_and_eviction_are_the_references() -> None:
    """A sample exactly one length older than the newest is refused, one just inside is inserted; a sample exactly at
    the new edge leaves; a tie with the newest joins after it and moves nothing."""
    columns, reference = WindowColumns(), SlidingWindow(10.0)
    slot = columns.open(10.0)
    offers = [(0.0, 1.0), (10.0, 2.0), (20.0, 3.0), (10.0, 4.0), (10.5, 5.0), (20.0, 6.0), (30.0, 7.0), (25.0, 8.0)]
    for at, value in [*offers, (20.0, 9.0)]:
        assert columns.take([slot], [at], [value]).tolist() == [reference.add(at, value).accepted]
        assert columns.snapshot(slot) == reference.snapshot()
    assert columns.snapshot(slot)["values"] == [8.0, 7.0]


def _defined(value: float | None) -> float:
    assert value is not None
    return value


def test_a_time_so_large_that_the_length_vanishes_empties_the_window_as_the_reference_does() -> None:
    columns, reference = WindowColumns(), SlidingWindow(0.001)
    slot = columns.open(0.001)
    for at in (1e300, 2e300):
        columns.take([slot], [at], [1.0])
        reference.add(at, 1.0)
        assert columns.snapshot(slot) == reference.snapshot()
