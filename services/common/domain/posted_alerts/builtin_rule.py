"""The built-in rule of a tenant's posted alerts: one event per label set, resolved by `endsAt`.

Every alert posted to `POST /api/v2/alerts` becomes an event of type `alertmanager.alert` whose payload holds the
posted `labels` and `annotations` (and `startsAt`, `endsAt`, `generatorURL`). A real rule handles them: the gateway
creates it on the tenant's first post (an event rule on that type, grouped by the whole label set), so it is
listed, versioned and editable like any rule (add a `notify` action to be told of posted alerts). The engines know
it by its id, which the server alone assigns (`am-alerts-` and a random suffix: a client cannot choose it), and
treat its events as Alertmanager treats alerts:

- the event's labels are exactly the posted labels (not the rule's name, severity or labels);
- a re-sent alert joins the open event (count + 1, last_seen);
- the event resolves at the posted `endsAt` (the gateway writes receipt + 5m when none was posted, as
  Alertmanager's `resolve_timeout`), and at once when a post's `endsAt` is already past;
- it stays out of an alert that an active rule of the tenant on `alertmanager.alert` matches.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from services.common.domain.events.model import parse_time
from services.common.domain.rules.model import Rule

ALERT_EVENT_TYPE = "alertmanager.alert"
BUILTIN_RULE_PREFIX = "am-alerts-"
BUILTIN_RULE_NAME = "alertmanager-alerts"
# Alertmanager's default `resolve_timeout`: an alert posted without `endsAt` ends this long after its last receipt.
RESOLVE_TIMEOUT = timedelta(minutes=5)


def new_builtin_rule_id() -> str:
    """A fresh id of a tenant's built-in rule (the random part as any rule id's; the prefix marks it)."""
    return BUILTIN_RULE_PREFIX + uuid.uuid4().hex[:32]


def is_builtin_rule(rule: Rule) -> bool:
    """Whether the rule is a tenant's built-in rule of posted alerts (and still an event rule on their type)."""
    return (
        rule.rule_id.startswith(BUILTIN_RULE_PREFIX)
        and rule.trigger_type == "event"
        and getattr(rule.trigger_spec, "event_type", None) == ALERT_EVENT_TYPE
    )


def builtin_rule_body() -> dict[str, Any]:
    """The create body of the built-in rule: active, an event rule grouped by the posted label set."""
    return {
        "name": BUILTIN_RULE_NAME,
        "description": "Alerts posted to POST /api/v2/alerts (Prometheus, amtool): one event per label set, "
        "resolved at the alert's endsAt. Built in: created on the first post; add actions to be notified.",
        "active": True,
        "trigger_type": "event",
        "trigger_spec": {"event_type": ALERT_EVENT_TYPE, "group_by": ["labels"], "resolve_after": "5m"},
        "action_spec": [],
    }


def posted_labels(payload: Mapping[str, Any]) -> dict[str, str]:
    """The labels of a posted alert's payload (non-string values, which a post never has, are dropped)."""
    raw = payload.get("labels")
    if not isinstance(raw, Mapping):
        return {}
    return {str(name): value for name, value in raw.items() if isinstance(value, str)}


def ends_at(payload: Mapping[str, Any]) -> datetime | None:
    """The `endsAt` of a posted alert's payload, or None when it has none that reads as a time."""
    raw = payload.get("endsAt")
    if not isinstance(raw, str):
        return None
    try:
        return parse_time(raw)
    except ValueError:
        return None
