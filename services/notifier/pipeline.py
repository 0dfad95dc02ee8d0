"""The delivery pipeline, one attempt of one job: resolve the channel -> render -> send -> decide.

The later stages of the full notifier (suppression, grouping, routing, escalation) slot in between resolve and
render, each returning a reason when it stops a delivery (recorded as the result's status, e.g. `suppressed`).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import httpx

from services.common.codec import ChannelEntry, DeliveryJob, DeliveryResult
from services.common.domain.events import format_time
from services.common.domain.templates import TemplateError
from services.notifier.channels import sender_for
from services.notifier.channels.base import Delivery, Outcome, redact, secret_values
from services.notifier.jobs import event_view, message_of, rule_view
from services.notifier.retry import Decision, RetryPolicy, decide


class Directory(Protocol):
    """Where channels and rules are looked up (the KV buckets, in the service)."""

    async def channel(self, tenant: str, ref: str) -> ChannelEntry | None: ...

    async def rule(self, tenant: str, rule_id: str) -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class Attempted:
    """One attempt's result (to publish) and the decision (ack, or nak with its delay)."""

    result: DeliveryResult
    decision: Decision


class Pipeline:
    """Runs attempts; holds no per-job state, so any replica can run any attempt."""

    def __init__(
        self,
        directory: Directory,
        client: httpx.AsyncClient,
        policy: RetryPolicy,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.directory = directory
        self.client = client
        self.policy = policy
        self.rand = rand

    async def attempt(self, job: DeliveryJob, attempt: int, now: datetime) -> Attempted:
        """Deliver a job once (attempt `attempt`, 1-based) and decide what follows."""
        ref = str(job.action.get("channel"))
        channel = await self.directory.channel(job.tenant, ref)
        if channel is None:
            outcome = Outcome.failure("config", f"no channel {ref[:200]!r} in tenant {job.tenant}")
        else:
            outcome = await self._send(job, channel, attempt)
        policy = self.policy.for_channel(channel.config if channel else {})
        decision = decide(outcome, attempt, policy, self.rand())
        result = DeliveryResult(
            tenant=job.tenant,
            event_id=job.transition.event_id,
            transition_id=job.transition.transition_id,
            action_index=job.index,
            channel=ref,
            channel_id=channel.channel_id if channel else None,
            type=channel.type if channel else str(job.action.get("type") or "notify"),
            status=decision.status,
            attempt=attempt,
            at=now,
            latency_ms=outcome.latency_ms,
            status_code=outcome.status_code,
            error=outcome.error,
            final=decision.final,
            error_kind=outcome.error_kind,
        )
        return Attempted(result, decision)

    async def _send(self, job: DeliveryJob, channel: ChannelEntry, attempt: int) -> Outcome:
        sender = sender_for(channel.type)
        if sender is None:
            return Outcome.failure("config", f"channel type {channel.type} is not deliverable yet")
        event = event_view(job.transition)
        rule = rule_view(job.transition, await self.directory.rule(job.tenant, job.transition.rule_id))
        try:
            message = message_of(job.action, event, rule)
        except TemplateError as exc:
            return Outcome.failure("template", redact(exc.detail, secret_values(channel)))
        return await sender(self.client, Delivery(job.msg_id(), channel, event, message, attempt))

    async def test(self, channel: ChannelEntry, now: datetime) -> Outcome:
        """A channel test: one real send of a sample event, no retries."""
        sender = sender_for(channel.type)
        if sender is None:
            return Outcome.failure("config", f"channel type {channel.type} is not deliverable yet")
        stamp = format_time(now)
        event: dict[str, Any] = {
            "event_id": f"test-{int(now.timestamp() * 1000)}",
            "kind": "test",
            "tenant": channel.tenant,
            "rule_id": None,
            "rule_name": "channel test",
            "severity": "info",
            "status": "test",
            "group_key": "",
            "summary": f"test of channel {channel.name}",
            "payload": {},
            "fired_at": stamp,
            "at": stamp,
            "count": 1,
        }
        message = f"CEP channel test for {channel.name}"
        return await sender(self.client, Delivery(str(event["event_id"]), channel, event, message, 1))
