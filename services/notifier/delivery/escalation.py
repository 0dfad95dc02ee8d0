"""Escalation input: every failed delivery attempt becomes a `cep.notification.failed` event in the pipeline.

Rules match it like any event (the rule pack's `escalation` rule: `event_type: cep.notification.failed`,
`retry > 3`, `group_by: ["alert_fingerprint"]`, a pager channel): one escalation per failing alert, however many
attempts fail, because later failures of the same alert are absorbed into the open escalation event.
A failure of a notification that was itself about a `cep.notification.failed` event emits nothing, so a broken
pager channel cannot feed a loop.
"""

from __future__ import annotations

from typing import Any

from services.common.domain.events.model import format_time
from services.common.messages.delivery import DeliveryJob, DeliveryResult

FAILED_EVENT = "cep.notification.failed"


def failure_event(job: DeliveryJob, result: DeliveryResult) -> dict[str, Any] | None:
    """The event to emit for a failed attempt (None for a success, or for a failure escalation would loop on)."""
    if result.status not in ("retrying", "failed"):
        return None
    transition = job.transition
    if transition.payload.get("event_type") == FAILED_EVENT or transition.kind == "acked":
        return None
    return {
        "event_type": FAILED_EVENT,
        "timestamp": format_time(result.at),
        "retry": result.attempt - 1,  # retries made so far: the first attempt is not a retry
        "attempt": result.attempt,
        "final": result.final,
        "channel": result.channel,
        "channel_id": result.channel_id,
        "channel_type": result.type,
        "error_kind": result.error_kind,
        "error": result.error,
        "tenant": transition.tenant,
        "rule_id": transition.rule_id,
        "rule_name": transition.rule_name,
        "severity": transition.severity,
        "priority": transition.priority,
        "alert_fingerprint": transition.fingerprint,
        "event_id": transition.event_id,
        "transition_id": transition.transition_id,
        "transition": transition.kind,
    }


def failure_msg_id(result: DeliveryResult) -> str:
    """One failure event per attempt, whatever the redeliveries."""
    return f"nf:{result.transition_id}:{result.action_index}:{result.attempt}"
