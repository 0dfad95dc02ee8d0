"""ACK notices -> `acknowledge` deliveries: an operator's ACK tells incident channels (PagerDuty) someone is on it.

The gateway publishes an ACK notice (the feed's `acked` message: the Event JSON) once the ACK is committed. The
notifier turns it into an `acked` transition (id `ack:<event id>`, the same id the recorder gives the ACK, so the
results land in the event's `notifications[]`) and one job per action of the rule whose channel tracks incidents.
Chat and e-mail channels are not told: an ACK is visible on the event and the live stream.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from services.common import codec
from services.common.codec import DeliveryJob
from services.common.domain.events.model import parse_time
from services.common.domain.lifecycle.transitions import Transition
from services.notifier.channels import INCIDENT_TYPES
from services.notifier.delivery.directory import Directory


def ack_transition(event: Mapping[str, Any]) -> Transition:
    """The `acked` transition of an acknowledged event (the Event JSON as the feed carries it)."""
    fired = parse_time(str(event["fired_at"]))
    acked = parse_time(str(event["acked_at"])) if event.get("acked_at") else datetime.now(UTC)
    last_seen = parse_time(str(event["last_seen"])) if event.get("last_seen") else fired
    return Transition(
        transition_id=f"ack:{event['event_id']}",
        kind="acked",
        tenant=str(event["tenant"]),
        rule_id=str(event["rule_id"]),
        rule_version=int(event.get("rule_version") or 0),
        rule_name=str(event.get("rule_name") or ""),
        severity=str(event.get("severity") or "medium"),
        trigger_type=str(event.get("trigger_type") or ""),
        event_id=str(event["event_id"]),
        fingerprint=str(event.get("fingerprint") or ""),
        group_key=str(event.get("group_key") or ""),
        at=acked,
        started_at=fired,
        count=int(event.get("count") or 1),
        last_seen=last_seen,
        payload=dict(event.get("payload") or {}),
        value=event.get("value"),
        explanation=[],
        summary=str(event.get("summary") or ""),
        source_event_id=None,
        reason=f"acknowledged by {event.get('acked_by') or 'someone'}",
        priority=str(event.get("priority") or "P3"),
    )


async def ack_jobs(directory: Directory, data: bytes) -> list[DeliveryJob]:
    """The acknowledge jobs of one ACK notice: one per action of the rule whose channel tracks incidents."""
    body = codec.loads(data)
    event = body.get("event") if isinstance(body, dict) else None
    if not isinstance(event, dict) or body.get("type") != "acked":
        return []
    transition = ack_transition(event)
    rule = await directory.rule(transition.tenant, transition.rule_id)
    jobs = []
    for index, action in enumerate((rule or {}).get("action_spec") or []):
        ref = action.get("channel") if isinstance(action, Mapping) else None
        if not isinstance(ref, str) or not ref:
            continue
        channel = await directory.channel(transition.tenant, ref)
        if channel is not None and channel.type in INCIDENT_TYPES:
            jobs.append(DeliveryJob(transition, dict(action), index))
    return jobs
