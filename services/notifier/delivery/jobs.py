"""From alerts to delivery jobs, and what a job says: the event fields, the rule, the rendered message (no I/O)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from services.common.domain.events.model import format_time
from services.common.domain.lifecycle.transitions import Transition
from services.common.domain.notify.reports import report_text
from services.common.domain.notify.templates import render, template_context
from services.common.messages.alerts import Action, channel_actions
from services.common.messages.delivery import DeliveryJob


def jobs_for(transition: Transition, actions: Sequence[Action]) -> list[DeliveryJob]:
    """One job per action that names a channel, for a transition that is to be notified (none otherwise)."""
    if not transition.notify:
        return []
    return [DeliveryJob(transition, action, index) for index, action, _ in channel_actions(actions)]


def event_view(transition: Transition) -> dict[str, Any]:
    """The event as the transition shows it, in the Event's field names (the webhook body and template context)."""
    resolved = transition.kind == "resolved"
    return {
        "event_id": transition.event_id,
        "transition_id": transition.transition_id,
        "fingerprint": transition.fingerprint,
        "kind": transition.kind,
        "tenant": transition.tenant,
        "rule_id": transition.rule_id,
        "rule_name": transition.rule_name,
        "rule_version": transition.rule_version,
        "trigger_type": transition.trigger_type,
        "severity": transition.severity,
        "priority": transition.priority,
        "status": "resolved" if resolved else "acked" if transition.kind == "acked" else "open",
        "group_key": transition.group_key,
        "summary": transition.summary,
        "payload": dict(transition.payload),
        "value": transition.value,
        "fired_at": format_time(transition.started_at),
        "last_seen": format_time(transition.last_seen),
        "resolved_at": format_time(transition.at) if resolved else None,
        "at": format_time(transition.at),
        "count": transition.count,
        "reason": transition.reason,
        "labels": dict(transition.labels),
    }


def rule_view(transition: Transition, stored: Mapping[str, Any] | None) -> dict[str, Any]:
    """The `rule` of the template context: the stored rule when known, else what the transition carries."""
    known = {
        "rule_id": transition.rule_id,
        "name": transition.rule_name,
        "severity": transition.severity,
        "priority": transition.priority,
        "trigger_type": transition.trigger_type,
        "version": transition.rule_version,
    }
    return {**known, **dict(stored)} if stored else known


def message_of(action: Action, event: Mapping[str, Any], rule: Mapping[str, Any]) -> str:
    """The action's `message` rendered against the event (TemplateError when it cannot); the summary without one."""
    template = action.message
    if template is None and isinstance(event.get("report"), Mapping):  # a Daily Report says what it counted
        return report_text(event["report"])
    if template is None:
        return f"{event['rule_name']}: {event['summary']}"
    return render(template, template_context(event, rule))
