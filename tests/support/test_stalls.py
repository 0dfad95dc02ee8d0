"""The stall record that timing tests subtract from a request's wall-clock wait (tests/support/stalls.py)."""

from __future__ import annotations

import gc
import time

from tests.support.stalls import Stalls


def test_overlapping_stalls_count_once_and_only_within_the_span() -> None:
    stalls = Stalls()
    stalls.spans = [(1.0, 3.0), (2.0, 4.0), (6.0, 7.0), (9.0, 12.0)]
    assert stalls.within(0.0, 5.0) == 3.0
    assert stalls.within(2.5, 6.5) == 2.0
    assert stalls.within(10.0, 11.0) == 1.0
    assert stalls.within(4.0, 6.0) == 0.0


def test_a_collection_is_recorded() -> None:
    with Stalls() as stalls:
        started = time.monotonic()
        gc.collect(0)  # the youngest generation: a full collection late in the session takes seconds
        ended = time.monotonic()
    assert any(started <= low <= high <= ended for low, high in stalls.spans), stalls.spans
