"""Template previews: a message template rendered against a sample event (or the caller's fields), no I/O.

The sample has every field of the event the notifier renders against (see services/notifier/delivery/jobs.py
`event_view`), with fixed values so a preview is repeatable. Fields the caller gives replace the sample's;
a stored rule (when one is named) supplies the rule fields and the template's `rule`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.common.domain.notify.templates import TemplateError, check, over_budget, render, template_context

SAMPLE_AT = "2026-01-01T12:00:00Z"
SAMPLE_EVENT: dict[str, Any] = {
    "event_id": "sample-event",
    "transition_id": "sample-transition",
    "fingerprint": "sample-fingerprint",
    "kind": "fired",
    "rule_id": "sample-rule",
    "rule_name": "sample_rule",
    "rule_version": 1,
    "trigger_type": "metric",
    "severity": "high",
    "priority": "P3",
    "status": "open",
    "group_key": "host=web-01",
    "summary": "cpu_usage > 85 for 5m",
    "payload": {"host": "web-01", "cpu_usage": 92.5},
    "value": 92.5,
    "fired_at": SAMPLE_AT,
    "last_seen": SAMPLE_AT,
    "resolved_at": None,
    "at": SAMPLE_AT,
    "count": 1,
    "reason": "condition held for 5m",
    "labels": {"alertname": "sample_rule", "severity": "high", "priority": "P3", "host": "web-01"},
    "annotations": {},
}
# Event fields a stored rule fills in, from the Rule's own field names.
_FROM_RULE = {
    "rule_id": "rule_id",
    "rule_name": "name",
    "rule_version": "version",
    "trigger_type": "trigger_type",
    "severity": "severity",
    "priority": "priority",
}


def preview_event(fields: Mapping[str, Any] | None, rule: Mapping[str, Any] | None, tenant: str) -> dict[str, Any]:
    """The event to render against: the sample, then the stored rule's fields, then the caller's fields."""
    event = {**SAMPLE_EVENT, "tenant": tenant}
    if rule:
        event.update({name: rule[key] for name, key in _FROM_RULE.items() if rule.get(key) is not None})
    event.update(fields or {})
    return event


def preview_rule(event: Mapping[str, Any], rule: Mapping[str, Any] | None) -> dict[str, Any]:
    """The template's `rule`: the stored rule, else what the event says about its rule (as the notifier does)."""
    if rule:
        return dict(rule)
    return {key: event.get(name) for name, key in _FROM_RULE.items()}


def preview(template: str, event: Mapping[str, Any], rule: Mapping[str, Any]) -> dict[str, Any]:
    """`{"ok": true, "rendered"}`, or `{"ok": false, "error": {"kind": "template", "detail"}}`."""
    try:
        return {"ok": True, "rendered": render(template, template_context(event, rule))}
    except TemplateError as exc:
        return {"ok": False, "error": exc.as_dict()}


def save_error(template: str) -> str | None:
    """Why a template cannot be saved: a syntax error, or its budget spent against the sample event; else None.

    A variable the sample lacks is no reason: it depends on the event, and reads as empty here.
    """
    problem = check(template)
    if problem is not None:
        return problem
    return over_budget(template, template_context(SAMPLE_EVENT, preview_rule(SAMPLE_EVENT, None)))
