"""Delivery attempts, one attempt of one job: find the action's channel -> render -> send -> decide what follows.

Every kind of job (a notification, a group batch, a storm digest) goes through `Pipeline.attempt`: the channel
lookup, the failure when there is no such channel or no sender for its type, and the retry decision are there
once. The stages before delivery (cooldown, storm budget, grouping) are in services/notifier/stages/.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import Any

import httpx

from services.common.domain.events.model import format_time
from services.common.domain.lifecycle.transitions import Transition
from services.common.domain.notify.channel_types import timeout_seconds
from services.common.domain.notify.egress_policy import EgressPolicy
from services.common.domain.notify.templates import TemplateError
from services.common.domain.rules.actions import DAILY_REPORT
from services.common.egress import EgressRefused, resolve_allowed
from services.common.messages.alerts import Action
from services.common.messages.channels import ChannelEntry
from services.common.messages.delivery import DeliveryJob, DeliveryResult, DigestJob, GroupJob
from services.common.template_pool import off_loop
from services.notifier.channels import INCIDENT_TYPES, Sender, email, sender_for
from services.notifier.channels.base import Delivery, Outcome, redact, secret_values
from services.notifier.delivery.directory import Directory
from services.notifier.delivery.jobs import event_view, message_of, rule_view
from services.notifier.delivery.reports import ReportSource, report_for
from services.notifier.delivery.results import channel_type, delivery_result
from services.notifier.delivery.retry import Decision, RetryPolicy, decide
from services.notifier.timed_jobs.digests import digest_view

NO_ACTION = Action(type="notify")  # what a timed job without an action attempts: no channel, failing as `config`
SEVERITY_ORDER = ("critical", "high", "medium", "low", "info")
Send = Callable[[ChannelEntry, Sender], Awaitable[Outcome]]  # how one kind of job goes out through a sender


@dataclass(frozen=True)
class Attempt:
    """One attempt of a job: the channel (None when the tenant has none by that reference), how it went, and
    what follows."""

    channel: ChannelEntry | None
    outcome: Outcome
    decision: Decision


@dataclass(frozen=True)
class JobAttempt:
    """One attempt's result (to publish) and the decision (ack, or nak with its delay)."""

    result: DeliveryResult
    decision: Decision


@dataclass(frozen=True)
class GroupAttempt:
    """One attempt of a batch: the outcome, what follows, and a result for every member (none for reminders)."""

    outcome: Outcome
    decision: Decision
    channel_type: str
    results: list[DeliveryResult]


class Declined(Exception):
    """The channel does not take this kind of job (a storm digest to an incident tool): nothing is sent."""


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

    async def attempt(self, tenant: str, action: Action, number: int, send: Send) -> Attempt:
        """Attempt `number` (1-based) of any job: its action's channel in the tenant, sent through its type's
        sender by `send`, and the retry decision. No such channel fails with kind `config`, at once."""
        ref = str(action.channel)
        channel = await self.directory.channel(tenant, ref)
        if channel is None:
            outcome = Outcome.failure("config", f"no channel {ref[:200]!r} in tenant {tenant}")
        else:
            outcome = await self._through_sender(channel, send)
        policy = self.policy.for_channel(channel.config if channel else {})
        return Attempt(channel, outcome, decide(outcome, number, policy, self.rand()))

    async def _through_sender(self, channel: ChannelEntry, send: Send) -> Outcome:
        """`send` with the channel type's sender. A type this build has no sender for (a channel written by a
        newer gateway, or by hand) fails with kind `config`."""
        sender = sender_for(channel.type)
        if sender is None:
            return Outcome.failure("config", f"channel type {channel.type} is not deliverable yet")
        return await send(channel, sender)

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

    async def attempt_job(self, job: DeliveryJob, number: int, now: datetime) -> JobAttempt:
        """Deliver a notification job once and decide what follows."""
        tried = await self.attempt(job.tenant, job.action, number, partial(self._send, job, number))
        outcome, decision = tried.outcome, tried.decision
        reason = decision.reason if not outcome.ok else None
        result = delivery_result(
            job,
            tried.channel,
            status=decision.status,
            attempt=number,
            at=now,
            final=decision.final,
            reason=reason,
            outcome=outcome,
        )
        return JobAttempt(result, decision)

    async def attempt_digest(self, job: DigestJob, number: int) -> Attempt | None:
        """Send a storm digest to its action's channel once; None when the channel does not take digests."""

        async def send(channel: ChannelEntry, sender: Sender) -> Outcome:
            if channel.type in INCIDENT_TYPES:
                raise Declined
            return await self._dispatch(sender, Delivery(job.msg_id(), channel, digest_view(job), job.text, number))

        try:
            return await self.attempt(job.tenant, job.action or NO_ACTION, number, send)
        except Declined:
            return None

    async def attempt_group(self, job: GroupJob, number: int, now: datetime) -> GroupAttempt:
        """Send one batch of grouped notifications to its action's channel once, and decide what follows."""
        action = job.action or NO_ACTION
        members = [Transition.from_dict(m) for m in job.members or []]
        tried = await self.attempt(job.tenant, action, number, partial(self._send_group, job, members, number))
        decision = tried.decision
        reason = f"sent in a batch of {len(members) + job.dropped} for group {job.labels or '(all)'}"
        shared = replace(tried.outcome, excerpt=None)  # members record the batch's status and error, not its answer
        results = [
            delivery_result(
                DeliveryJob(member, action, job.index),
                tried.channel,
                status=decision.status,
                attempt=number,
                at=now,
                final=decision.final,
                reason=reason,
                outcome=shared,
            )
            for member in ([] if job.repeat else members)
        ]
        return GroupAttempt(tried.outcome, decision, channel_type(tried.channel, action), results)

    async def _send_group(
        self, job: GroupJob, members: list[Transition], attempt: int, channel: ChannelEntry, sender: Sender
    ) -> Outcome:
        action = job.action or NO_ACTION
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

    async def _send(self, job: DeliveryJob, attempt: int, channel: ChannelEntry, sender: Sender) -> Outcome:
        event = event_view(job.transition)
        if job.action.type == DAILY_REPORT:
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
        event = _test_event(channel, now)
        message = f"CEP channel test for {channel.name}"
        delivery = Delivery(str(event["event_id"]), channel, event, message, 1)
        return await self._through_sender(channel, lambda _, sender: self._dispatch(sender, delivery))


def _test_event(channel: ChannelEntry, now: datetime) -> dict[str, Any]:
    """The sample event a channel test sends."""
    stamp = format_time(now)
    return {
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


def _lines(action: Action, members: list[Transition], rule: Mapping[str, Any] | None) -> list[str]:
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
        "route_key": job.route_key,  # a policy route's group: Alertmanager's groupKey is route key + group labels
        "group_labels": job.group_labels,
    }
