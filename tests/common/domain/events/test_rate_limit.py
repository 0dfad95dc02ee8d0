"""Token buckets: bursts pass, the long-run rate holds whatever the batch sizes, refusals say how long to wait."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.common.domain.events.rate_limit import RateLimiter, retry_after_header


def test_a_burst_passes_then_the_caller_waits_for_the_refill() -> None:
    limiter = RateLimiter(rate=10, burst=20)
    assert limiter.take("a", 20, now=0.0) == 0.0
    assert limiter.take("a", 1, now=0.0) == 0.1  # empty bucket: one token takes 1/rate
    assert limiter.take("a", 5, now=0.2) == 0.3  # 2 tokens back, 3 more needed
    assert limiter.take("a", 5, now=0.5) == 0.0


def test_one_large_batch_is_admitted_whole_and_paid_back_before_the_next() -> None:
    limiter = RateLimiter(rate=100, burst=50)
    assert limiter.take("a", 450, now=0.0) == 0.0  # more than the burst: admitted, the bucket is 400 in debt
    assert limiter.take("a", 1, now=1.0) == 3.01  # 300 still owed at 100/s, then one token
    assert limiter.take("a", 1, now=4.0) == 1.0 / 100  # paid back to zero: the next token is 1/rate away
    assert limiter.take("a", 60, now=4.5) == 0.0  # 50 tokens back: a batch over the burst needs a full bucket
    assert limiter.take("a", 10, now=4.5) == 0.1 + 0.1


def test_tenants_have_their_own_buckets() -> None:
    limiter = RateLimiter(rate=1, burst=1)
    assert limiter.take("a", 1, now=0.0) == 0.0
    assert limiter.take("a", 1, now=0.0) > 0
    assert limiter.take("b", 1, now=0.0) == 0.0


def test_forgotten_keys_start_full_again() -> None:
    limiter = RateLimiter(rate=1, burst=1, max_keys=2)
    for key in ("a", "b", "c"):
        assert limiter.take(key, 1, now=0.0) == 0.0
    assert limiter.take("a", 1, now=0.0) == 0.0  # "a" was the least recently used: forgotten, so full


def test_retry_after_is_whole_seconds_and_never_zero() -> None:
    assert retry_after_header(0.01) == "1"
    assert retry_after_header(2.2) == "3"


@given(
    batches=st.lists(st.tuples(st.integers(1, 500), st.floats(0, 2)), min_size=1, max_size=200),
    rate=st.floats(1, 1000),
    burst=st.floats(1, 1000),
)
def test_admitted_items_never_exceed_burst_plus_rate_times_time_plus_one_batch(
    batches: list[tuple[int, float]], rate: float, burst: float
) -> None:
    limiter = RateLimiter(rate=rate, burst=burst)
    now, admitted, largest = 0.0, 0, 0
    for size, gap in batches:
        now += gap
        if limiter.take("t", size, now) == 0.0:
            admitted += size
            largest = max(largest, size)
    assert admitted <= burst + rate * now + largest
