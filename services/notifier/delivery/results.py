"""Delivery results: the one place a result of a (transition, action) is made, whatever recorded it.

An attempt of a job, each member's share of a group batch, and a job a stage suppressed all record their result
here, so every entry of an event's `notifications[]` names its channel and type the same way.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from services.common.messages.alerts import Action
from services.common.messages.channels import ChannelEntry
from services.common.messages.delivery import DeliveryJob, DeliveryResult
from services.notifier.channels.base import Outcome

Status = Literal["sent", "retrying", "failed", "suppressed"]


def channel_type(channel: ChannelEntry | None, action: Action) -> str:
    """The channel's type; the action's type when no channel was found."""
    return channel.type if channel else action.type


def delivery_result(
    job: DeliveryJob,
    channel: ChannelEntry | None,
    *,
    status: Status,
    attempt: int,
    at: datetime,
    final: bool,
    reason: str | None,
    outcome: Outcome | None = None,
) -> DeliveryResult:
    """The result of a job: `channel` is None when none was found (or none was asked: a suppressed job), `outcome`
    None when nothing was sent."""
    sent = outcome or Outcome(True)
    return DeliveryResult(
        tenant=job.tenant,
        event_id=job.transition.event_id,
        transition_id=job.transition.transition_id,
        action_index=job.index,
        channel=str(job.action.channel),
        channel_id=channel.channel_id if channel else None,
        type=channel_type(channel, job.action),
        status=status,
        attempt=attempt,
        at=at,
        latency_ms=sent.latency_ms,
        status_code=sent.status_code,
        error=sent.error,
        final=final,
        error_kind=sent.error_kind,
        reason=reason,
        excerpt=sent.excerpt,
        via=via_of(job.action),
    )


def via_of(action: Action) -> str | None:
    """What made the action when it is not the rule's own (`policy:<route>`), None for a rule action."""
    via = (action.model_extra or {}).get("via")
    return str(via) if via is not None else None
