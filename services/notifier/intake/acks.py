"""ACK notices -> `acknowledge` deliveries: an operator's ACK tells incident channels (PagerDuty) someone is on it.

The gateway publishes an ACK notice (the feed's `acked` message: the Event JSON) once the ACK is committed. The
notifier turns it into an `acked` transition (id `ack:<event id>`, the same id the recorder gives the ACK, so the
results land in the event's `notifications[]`) and one job per action of the rule whose channel tracks incidents.
Chat and e-mail channels are not told: an ACK is visible on the event and the live stream.
"""

from __future__ import annotations

from datetime import UTC, datetime

from services.common.domain.lifecycle.transitions import Transition
from services.common.messages.alerts import AckedEvent, AckNotice, actions_of, channel_actions
from services.common.messages.delivery import DeliveryJob
from services.notifier.channels import INCIDENT_TYPES
from services.notifier.delivery.directory import Directory


def ack_transition(event: AckedEvent) -> Transition:
    """The `acked` transition of an acknowledged event (the Event JSON as the feed carries it)."""
    fired, field = event.fired_at, event.field
    return Transition(
        transition_id=f"ack:{event.event_id}",
        kind="acked",
        tenant=event.tenant,
        rule_id=event.rule_id,
        rule_version=int(field("rule_version") or 0),
        rule_name=str(field("rule_name") or ""),
        severity=str(field("severity") or "medium"),
        trigger_type=str(field("trigger_type") or ""),
        event_id=event.event_id,
        fingerprint=event.fingerprint or "",
        group_key=str(field("group_key") or ""),
        at=event.acked_at or datetime.now(UTC),
        started_at=fired,
        count=int(field("count") or 1),
        last_seen=event.last_seen or fired,
        payload=dict(event.payload or {}),
        value=field("value"),
        explanation=[],
        summary=str(field("summary") or ""),
        source_event_id=None,
        reason=f"acknowledged by {field('acked_by') or 'someone'}",
        priority=str(field("priority") or "P3"),
    )


async def ack_jobs(directory: Directory, notice: AckNotice) -> list[DeliveryJob]:
    """The acknowledge jobs of one ACK notice: one per action of the rule whose channel tracks incidents."""
    if notice.type != "acked":
        return []
    transition = ack_transition(notice.event)
    rule = await directory.rule(transition.tenant, transition.rule_id)
    jobs = []
    for index, action, ref in channel_actions(actions_of(rule)):
        channel = await directory.channel(transition.tenant, ref)
        if channel is not None and channel.type in INCIDENT_TYPES:
            jobs.append(DeliveryJob(transition, action, index))
    return jobs
