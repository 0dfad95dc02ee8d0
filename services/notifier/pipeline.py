"""The delivery pipeline, one attempt of one job: resolve the channel -> render -> send -> decide.

The later stages of the full notifier (suppression, grouping, routing, escalation) slot in between resolve and
render, each returning a reason when it stops a delivery (recorded as the result's status, e.g. `suppressed`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import httpx

from services.common.codec import ChannelEntry, DeliveryJob, DeliveryResult, DigestJob, GroupJob
from services.common.domain.channels import timeout_seconds
from services.common.domain.egress import EgressPolicy
from services.common.domain.events import format_time
from services.common.domain.rules import DAILY_REPORT
from services.common.domain.templates import TemplateError
from services.common.domain.transitions import Transition
from services.common.egress import EgressRefused, resolve_allowed
from services.common.template_pool import off_loop
from services.notifier.channels import Sender, email, sender_for
from services.notifier.channels.base import Delivery, Outcome, redact, secret_values
from services.notifier.digests import digest_view
from services.notifier.jobs import event_view, message_of, rule_view
from services.notifier.reports import ReportSource, report_for
from services.notifier.retry import Decision, RetryPolicy, decide

# An incident tool de-duplicates by alert and pages on triggers: a digest of suppressed notifications means
# nothing to it (its incidents are the alerts themselves).
NO_DIGESTS = frozenset({"pagerduty"})


class Directory(Protocol):
    """Where channels and rules are looked up (the KV buckets, in the service)."""

    async def channel(self, tenant: str, ref: str) -> ChannelEntry | None: ...

    async def rule(self, tenant: str, rule_id: str) -> dict[str, Any] | None: ...


SEVERITY_ORDER = ("critical", "high", "medium", "low", "info")
INCIDENT_TYPES = frozenset({"pagerduty"})  # told about each alert of a batch on its own (they de-duplicate by alert)


@dataclass(frozen=True)
class GroupAttempt:
    """One attempt of a batch: the outcome, what follows, and a result for every member (none for reminders)."""

    outcome: Outcome
    decision: Decision
    channel_type: str
    results: list[DeliveryResult]


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
        egress: EgressPolicy | None = None,
        reports: ReportSource | None = None,
    ) -> None:
        self.directory = directory
        self.reports = reports  # where `daily_report` actions get their report (the gateway, in the service)
        self.client = client  # an egress-guarded client (services/common/egress.py) in the service
        self.policy = policy
        self.rand = rand
        self.egress = egress  # for non-HTTP channels (SMTP), checked here before the sender connects

    async def _dispatch(self, sender: Sender, delivery: Delivery) -> Outcome:
        """Run a sender; an SMTP channel first gets its host checked by the egress guard and connects to that IP."""
        channel = delivery.channel
        if channel.type != "email" or self.egress is None:
            return await sender(self.client, delivery)
        host, port = str(channel.config.get("host") or ""), int(channel.config.get("port") or 587)
        try:
            address = await resolve_allowed(host, port, self.egress, timeout=timeout_seconds(channel.config))
        except EgressRefused as exc:
            return Outcome.failure("egress", exc.reason)
        except TimeoutError:
            return Outcome.failure("timeout", f"resolving {host} took too long")
        except OSError as exc:
            return Outcome.failure("network", f"cannot resolve {host}: {exc.strerror or type(exc).__name__}")
        return await email.send(self.client, delivery, connect_host=address)

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
            reason=decision.reason if not outcome.ok else None,
            excerpt=outcome.excerpt,
        )
        return Attempted(result, decision)

    async def attempt_digest(self, job: DigestJob, attempt: int) -> tuple[Outcome, Decision] | None:
        """Send a storm digest to its action's channel once; None when the channel does not take digests."""
        ref = str((job.action or {}).get("channel"))
        channel = await self.directory.channel(job.tenant, ref)
        if channel is None:
            outcome = Outcome.failure("config", f"no channel {ref[:200]!r} in tenant {job.tenant}")
        elif channel.type in NO_DIGESTS:
            return None
        else:
            sender = sender_for(channel.type)
            if sender is None:
                outcome = Outcome.failure("config", f"channel type {channel.type} is not deliverable yet")
            else:
                delivery = Delivery(job.msg_id(), channel, digest_view(job), job.text, attempt)
                outcome = await self._dispatch(sender, delivery)
        policy = self.policy.for_channel(channel.config if channel else {})
        return outcome, decide(outcome, attempt, policy, self.rand())

    async def attempt_group(self, job: GroupJob, attempt: int, now: datetime) -> GroupAttempt:
        """Send one batch of grouped notifications to its action's channel once, and decide what follows."""
        ref = str((job.action or {}).get("channel"))
        channel = await self.directory.channel(job.tenant, ref)
        members = [Transition.from_dict(m) for m in job.members or []]
        if channel is None:
            outcome = Outcome.failure("config", f"no channel {ref[:200]!r} in tenant {job.tenant}")
        else:
            outcome = await self._send_group(job, channel, members, attempt)
        decision = decide(outcome, attempt, self.policy.for_channel(channel.config if channel else {}), self.rand())
        channel_type = channel.type if channel else str((job.action or {}).get("type") or "notify")
        results = (
            []
            if job.repeat
            else [
                DeliveryResult(
                    tenant=job.tenant,
                    event_id=member.event_id,
                    transition_id=member.transition_id,
                    action_index=job.index,
                    channel=ref,
                    channel_id=channel.channel_id if channel else None,
                    type=channel_type,
                    status=decision.status,
                    attempt=attempt,
                    at=now,
                    latency_ms=outcome.latency_ms,
                    status_code=outcome.status_code,
                    error=outcome.error,
                    final=decision.final,
                    error_kind=outcome.error_kind,
                    reason=f"sent in a batch of {len(members) + job.dropped} for group {job.labels or '(all)'}",
                )
                for member in members
            ]
        )
        return GroupAttempt(outcome, decision, channel_type, results)

    async def _send_group(
        self, job: GroupJob, channel: ChannelEntry, members: list[Transition], attempt: int
    ) -> Outcome:
        sender = sender_for(channel.type)
        if sender is None:
            return Outcome.failure("config", f"channel type {channel.type} is not deliverable yet")
        action = job.action or {}
        rule_json = await self.directory.rule(job.tenant, job.rule_id)
        try:
            lines = await off_loop(_lines, action, members, rule_json)
        except TemplateError as exc:
            return Outcome.failure("template", redact(exc.detail, secret_values(channel)))
        if channel.type in INCIDENT_TYPES:  # one event per alert: the tool de-duplicates and resolves per alert
            outcome = Outcome(True)
            for member, line in zip(members, lines, strict=True):
                delivery = Delivery(f"{member.transition_id}:{job.index}", channel, event_view(member), line, attempt)
                outcome = await self._dispatch(sender, delivery)
                if not outcome.ok:
                    return outcome
            return outcome
        view = group_view(job, members)
        text = "\n".join([str(view["summary"]), *(f"- {line}" for line in lines)])
        if job.dropped:
            text += f"\n- ... and {job.dropped} more"
        return await self._dispatch(sender, Delivery(job.msg_id(), channel, view, text, attempt))

    async def _send(self, job: DeliveryJob, channel: ChannelEntry, attempt: int) -> Outcome:
        sender = sender_for(channel.type)
        if sender is None:
            return Outcome.failure("config", f"channel type {channel.type} is not deliverable yet")
        event = event_view(job.transition)
        if job.action.get("type") == DAILY_REPORT:
            report = await report_for(self.reports, job)
            if isinstance(report, Outcome):
                return report
            event["report"] = report
        rule = rule_view(job.transition, await self.directory.rule(job.tenant, job.transition.rule_id))
        try:
            message = await off_loop(message_of, job.action, event, rule)
        except TemplateError as exc:
            return Outcome.failure("template", redact(exc.detail, secret_values(channel)))
        return await self._dispatch(sender, Delivery(job.msg_id(), channel, event, message, attempt, rule=rule))

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
        return await self._dispatch(sender, Delivery(str(event["event_id"]), channel, event, message, 1))


def _lines(action: Mapping[str, Any], members: list[Transition], rule: Mapping[str, Any] | None) -> list[str]:
    """Each member's message, for a batch (TemplateError when one cannot render)."""
    return [message_of(action, event_view(m), rule_view(m, rule)) for m in members]


def group_view(job: GroupJob, members: list[Transition]) -> dict[str, Any]:
    """A batch as senders see an event: a summary line, the highest severity, and every member as `alerts`."""
    firing = sum(m.kind == "fired" for m in members)
    resolved = sum(m.kind == "resolved" for m in members)
    rule_name = members[0].rule_name if members else job.rule_id
    severities = [m.severity for m in members if m.severity in SEVERITY_ORDER]
    severity = min(severities, key=SEVERITY_ORDER.index) if severities else "medium"
    label = "REMINDER, still firing" if job.repeat else f"{firing} firing, {resolved} resolved"
    summary = f"[{label}] {rule_name}" + (f" {{{job.labels}}}" if job.labels else "")
    return {
        "event_id": None,
        "transition_id": job.msg_id(),
        "kind": "group",
        "tenant": job.tenant,
        "rule_id": job.rule_id,
        "rule_name": rule_name,
        "severity": severity,
        "priority": members[0].priority if members else None,
        "status": "firing" if firing or job.repeat else "resolved",
        "group_key": job.labels,
        "fingerprint": None,
        "summary": summary,
        "payload": {},
        "value": None,
        "fired_at": format_time(min(m.started_at for m in members)) if members else None,
        "at": format_time(max(m.at for m in members)) if members else None,
        "count": len(members) + job.dropped,
        "repeat": job.repeat,
        "dropped": job.dropped,
        "alerts": [event_view(m) for m in members],
    }
