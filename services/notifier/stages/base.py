"""What every stage shares: the Stage protocol, the notification a stage looks at, and the verdicts it returns.

A stage looks at one notification at a time, with the batch's `now`, and returns a verdict with its reason:
`Passed` (on to the next stage), `Suppressed(by=...)` (recorded on the event, not sent) or `Grouped(by=...)` (it
goes out later, with its group). A verdict may set timers (a storm digest, a group flush). A stage keeps the state
it read for the batch, learns which notifications went out (`notified`), and saves its state once the batch's
decisions are published (`save`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from services.common.domain.lifecycle.transitions import Transition
from services.common.messages.delivery import DeliveryJob, DeliveryResult, DigestJob, GroupJob
from services.notifier.delivery.outputs import Publish
from services.notifier.delivery.results import delivery_result

Timer = DigestJob | GroupJob
Clock = Callable[[], float]


@dataclass(frozen=True)
class Notification:
    """One alert transition to notify: its delivery jobs (one per action naming a channel) and its rule's
    `suppression` settings ({} when it has none)."""

    transition: Transition
    jobs: list[DeliveryJob]
    suppression: Mapping[str, Any]


@dataclass(frozen=True)
class Passed:
    """The stage lets the notification on to the next stage (out, after the last)."""

    reason: str
    timers: tuple[Timer, ...] = ()


@dataclass(frozen=True)
class Suppressed:
    """The stage `by` stopped the notification: each job's result is `suppressed`, with the reason."""

    by: str
    reason: str
    timers: tuple[Timer, ...] = ()


@dataclass(frozen=True)
class Grouped:
    """The stage `by` took the notification into a group: it goes out with the group's next batch."""

    by: str
    reason: str
    timers: tuple[Timer, ...] = ()


Verdict = Passed | Suppressed | Grouped


class Stage(Protocol):
    """One step between an alert and its delivery jobs; `name` is the `by` of its verdicts and the metric label."""

    name: str

    async def decide(self, notification: Notification, now: float) -> Verdict:
        """The verdict on one notification (reading, and counting into, the batch's state of this stage)."""
        ...

    def notified(self, notification: Notification, now: float) -> None:
        """The notification was not suppressed (it goes out now, or with its group)."""
        ...

    async def save(self, publish: Publish, clock: Clock) -> None:
        """Save what the batch changed, after the batch's jobs, results and timers are published."""
        ...


@dataclass(frozen=True)
class Suppression:
    """A notification's job a stage suppressed: the stage, and the result recorded on the event."""

    by: str
    result: DeliveryResult


@dataclass
class Plan:
    """What a batch of alerts publishes, and the stages (with the batch's state) to save once it is published."""

    stages: list[Stage]
    jobs: list[DeliveryJob] = field(default_factory=list)
    suppressed: list[Suppression] = field(default_factory=list)
    timers: list[Timer] = field(default_factory=list)


def suppressed_result(job: DeliveryJob, reason: str, now: float) -> DeliveryResult:
    """The recorded result of a job a stage stopped: status `suppressed`, final, with the reason."""
    at = datetime.fromtimestamp(now, UTC)
    return delivery_result(job, None, status="suppressed", attempt=0, at=at, final=True, reason=reason)
