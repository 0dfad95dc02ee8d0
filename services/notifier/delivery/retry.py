"""Retry policy and the decision after each attempt: sent, retrying after a backoff, or failed for good."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from services.common.domain.rules.durations import parse_duration
from services.notifier.channels.base import Outcome

# A broken channel config or template fails the same way on every attempt: retrying only delays the news. So do
# refused credentials (HTTP 401/403, SMTP 535) and every other 4xx answer but 408 and 429: the destination has
# said no, and hammering it would be the retry storm operators complain about. Timeouts, network errors, 5xx,
# 408 and 429 are retried.
FINAL_KINDS = frozenset({"config", "template", "egress", "auth"})
RETRIED_4XX = frozenset({408, 425, 429})


@dataclass(frozen=True)
class RetryPolicy:
    """The contract's defaults: first retry after 1 s, doubling, 20% jitter, at most 60 s apart, 6 attempts in all."""

    initial: float = 1.0
    factor: float = 2.0
    jitter: float = 0.2
    max_delay: float = 60.0
    attempts: int = 6

    def backoff(self, attempt: int, rand: float) -> float:
        """The delay after failed attempt `attempt` (1-based); `rand` in [0, 1) spreads it by +-jitter."""
        base = min(self.initial * self.factor ** max(attempt - 1, 0), self.max_delay)
        return max(0.0, min(base * (1 + self.jitter * (2 * rand - 1)), self.max_delay))

    def for_channel(self, config: Mapping[str, Any]) -> RetryPolicy:
        """This policy with a channel's overrides (`max_attempts`, `retry_initial`, `retry_max`) applied."""
        policy = self
        if isinstance(config.get("max_attempts"), int):
            policy = replace(policy, attempts=int(config["max_attempts"]))
        if isinstance(config.get("retry_initial"), str):
            policy = replace(policy, initial=parse_duration(config["retry_initial"]))
        if isinstance(config.get("retry_max"), str):
            policy = replace(policy, max_delay=parse_duration(config["retry_max"]))
        return policy


@dataclass(frozen=True)
class Decision:
    """What follows an attempt, and why (the reason is logged)."""

    status: Literal["sent", "retrying", "failed"]
    final: bool
    delay: float | None
    reason: str


def decide(outcome: Outcome, attempt: int, policy: RetryPolicy, rand: float) -> Decision:
    """Sent on success; failed when the error cannot heal or attempts are spent; else retry after a backoff."""
    if outcome.ok:
        return Decision("sent", True, None, "delivered")
    if outcome.error_kind in FINAL_KINDS:
        return Decision("failed", True, None, f"{outcome.error_kind} errors are not retried")
    code = outcome.status_code
    if outcome.error_kind == "http" and code is not None and 400 <= code < 500 and code not in RETRIED_4XX:
        return Decision("failed", True, None, f"HTTP {code} is not retried (only 408, 425 and 429 of the 4xx are)")
    if attempt >= policy.attempts:
        return Decision("failed", True, None, f"gave up after {attempt} attempts")
    delay = policy.backoff(attempt, rand)
    return Decision("retrying", False, delay, f"attempt {attempt} of {policy.attempts} failed; retry in {delay:.2f}s")
