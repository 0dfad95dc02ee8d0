"""Per-key token buckets: a steady rate with a burst allowance, and the wait a refused caller should observe.

A bucket holds up to `burst` tokens and refills at `rate` tokens per second. A request for n tokens passes
when the bucket holds n. A request larger than the burst passes when the bucket is full, and leaves it in
debt (one large batch is admitted whole rather than refused forever); the refill pays the debt back before
anything else passes. So the long-run admitted rate is `rate` whatever the batch sizes, and a refused
caller is told how long to wait.

Time is passed in (monotonic seconds), so the rules are tested without sleeping.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass


@dataclass
class TokenBucket:
    rate: float
    burst: float
    tokens: float
    updated: float

    def take(self, count: int, now: float) -> float:
        """Take `count` tokens and return 0.0, or take nothing and return the seconds until a request passes."""
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
        self.updated = now
        needed = min(count, self.burst)
        if self.tokens < needed:
            return (needed - self.tokens) / self.rate
        self.tokens -= count
        return 0.0


class RateLimiter:
    """One bucket per key (a tenant), created full on first use; the least recently used are forgotten past
    `max_keys`, which only ever makes a forgotten key's next request pass (a full bucket), never refuses one."""

    def __init__(self, rate: float, burst: float, *, max_keys: int = 10_000) -> None:
        if rate <= 0 or burst <= 0:
            raise ValueError("a rate limit needs a positive rate and burst")
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def take(self, key: str, count: int, now: float) -> float:
        """0.0 when `count` items of `key` pass now, else the seconds to wait before retrying."""
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = TokenBucket(self.rate, self.burst, self.burst, now)
            self._buckets[key] = bucket
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket.take(count, now)


def retry_after_header(wait_seconds: float) -> str:
    """HTTP Retry-After is whole seconds: round up, and never 0 for a refused request."""
    return str(max(1, math.ceil(wait_seconds)))
