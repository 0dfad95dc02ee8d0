"""The retry policy and the decision after each attempt, table-driven (no I/O)."""

from __future__ import annotations

import pytest

from services.notifier.channels.base import Outcome
from services.notifier.delivery.retry import RetryPolicy, decide

DEFAULT = RetryPolicy()


@pytest.mark.parametrize(
    ("attempt", "rand", "delay"),
    [
        (1, 0.5, 1.0),  # the first retry after 1 s
        (2, 0.5, 2.0),  # doubling
        (3, 0.5, 4.0),
        (5, 0.5, 16.0),
        (7, 0.5, 60.0),  # 64 s capped at 60
        (1, 0.0, 0.8),  # -20% jitter
        (1, 0.999999, 1.2),  # +20% jitter
        (7, 0.999999, 60.0),  # at most 60 s apart, jitter included
    ],
)
def test_backoff_follows_the_contract_defaults(attempt: int, rand: float, delay: float) -> None:
    assert DEFAULT.backoff(attempt, rand) == pytest.approx(delay, abs=1e-4)


def test_channel_overrides() -> None:
    policy = DEFAULT.for_channel({"max_attempts": 3, "retry_initial": "500ms", "retry_max": "2s"})
    assert (policy.attempts, policy.initial, policy.max_delay) == (3, 0.5, 2.0)
    assert [policy.backoff(n, 0.5) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 2.0]
    assert DEFAULT.for_channel({"url": "http://h/"}) == DEFAULT


OK = Outcome(True, status_code=204)
HTTP_500 = Outcome.failure("http", "HTTP 500", status_code=500)
AUTH = Outcome.failure("auth", "HTTP 401", status_code=401)


@pytest.mark.parametrize(
    ("outcome", "attempt", "status", "final", "has_delay"),
    [
        (OK, 1, "sent", True, False),
        (OK, 6, "sent", True, False),
        (HTTP_500, 1, "retrying", False, True),
        (HTTP_500, 6, "failed", True, False),  # 6 attempts in all
        (AUTH, 1, "failed", True, False),  # the destination said no: not retried
        (Outcome.failure("http", "HTTP 404", status_code=404), 1, "failed", True, False),  # other 4xx neither
        (Outcome.failure("http", "HTTP 429", status_code=429), 1, "retrying", False, True),  # but 429 is
        (Outcome.failure("http", "HTTP 408", status_code=408), 1, "retrying", False, True),
        (Outcome.failure("http", "SMTP 451", status_code=None), 1, "retrying", False, True),
        (Outcome.failure("timeout", "no answer"), 7, "failed", True, False),
        (Outcome.failure("network", "refused"), 2, "retrying", False, True),
        (Outcome.failure("config", "no channel"), 1, "failed", True, False),  # cannot heal: not retried
        (Outcome.failure("template", "undefined"), 1, "failed", True, False),
    ],
)
def test_decide(outcome: Outcome, attempt: int, status: str, final: bool, has_delay: bool) -> None:
    decision = decide(outcome, attempt, DEFAULT, 0.5)
    assert (decision.status, decision.final, decision.delay is not None) == (status, final, has_delay)
    assert decision.reason
