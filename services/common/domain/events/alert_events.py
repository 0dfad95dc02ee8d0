"""Alert transitions as events: every event that fires, resolves or is acknowledged enters the pipeline again as an
internal event (`cep.alert.fired`, `cep.alert.resolved`, `cep.alert.acked`), so rules can match other rules' alerts
("disk_full and db_latency on the same host within 10m -> one P1").

The payload is the contract's: `event_id`, `rule_id`, `rule_name`, `severity`, `priority`, `group` (the group key as
an object), `labels`, `at`, plus `depth` and `timestamp` (= `at`, so the alert's own time is the event time).

Loops are cut twice. A rule never matches transitions of its own events (`source_rule` names the rule an alert
event came from; the rule index leaves that rule out). And each alert event carries `depth`: 1 for a transition of
a rule fed by ordinary events, one more per rule-over-alerts hop (the engines stamp a transition caused by an alert
event with that event's depth plus one: `Transition.depth`); past `MAX_DEPTH` the event is dropped and counted, so
two rules that match each other's alerts stop after a few hops.

`group` is read back from the group key text (`host=a,region=eu`) by `group_pairs`, the reader beside its writer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any, Literal

from services.common.domain.events.model import Event, format_time
from services.common.domain.lifecycle.transitions import Transition, group_pairs

ALERT_EVENT_PREFIX = "cep.alert."
ALERT_EVENT_TYPES: dict[str, str] = {
    "fired": "cep.alert.fired",
    "resolved": "cep.alert.resolved",
    "acked": "cep.alert.acked",
}
MAX_DEPTH = 3  # the contract's limit: past depth 3 an alert event is dropped and counted

Kind = Literal["fired", "resolved", "acked"]


def is_alert_event(event_type: str | None) -> bool:
    """Whether an event type is one of the alert transitions the platform emits."""
    return bool(event_type) and str(event_type).startswith(ALERT_EVENT_PREFIX)


def source_rule(event_type: str | None, payload: Mapping[str, Any]) -> str | None:
    """The rule whose event an alert event is about (None for any other event): that rule never matches it."""
    if not is_alert_event(event_type):
        return None
    rule_id = payload.get("rule_id")
    return rule_id if isinstance(rule_id, str) else None


def input_depth(event_type: str | None, payload: Mapping[str, Any]) -> int:
    """The depth of an event that causes transitions: an alert event's `depth`, 0 for any other event (a `depth`
    field in an ordinary event's payload means nothing)."""
    if not is_alert_event(event_type):
        return 0
    depth = payload.get("depth")
    return depth if isinstance(depth, int) and not isinstance(depth, bool) and depth > 0 else 1


def parse_group(group_key: str) -> dict[str, Any]:
    """The group key text as an object (`host=a,region=eu` -> {"host": "a", "region": "eu"}); {} for "".

    A dotted group-by path nests (`meta.host=a` -> {"meta": {"host": "a"}}), so `group.meta.host` reads it back in a
    rule over alerts as the path it came from; where a path and one inside it were both grouped by, the dotted name
    stays flat.
    """
    flat = dict(group_pairs(group_key))
    group: dict[str, Any] = {}
    for name, value in flat.items():
        _place(group, name, value)
    return group


def _place(group: dict[str, Any], name: str, value: str) -> None:
    """Put `value` at the dotted `name` inside `group`, flat when a segment on the way is already a value."""
    *parents, leaf = name.split(".")
    node = group
    for segment in parents:
        child = node.setdefault(segment, {})
        if not isinstance(child, dict):
            group[name] = value
            return
        node = child
    if leaf in node and isinstance(node[leaf], dict):
        group[name] = value
        return
    node[leaf] = value


def alert_event(
    kind: Kind,
    *,
    event_id: str,
    rule_id: str,
    rule_name: str,
    severity: str,
    priority: str,
    group_key: str,
    labels: Mapping[str, str] | None,
    at: datetime,
    depth: int,
) -> dict[str, Any]:
    """The internal event of one transition (its `event_type`, the contract's payload, `depth`, `timestamp`)."""
    stamp = format_time(at)
    return {
        "event_type": ALERT_EVENT_TYPES[kind],
        "timestamp": stamp,
        "event_id": event_id,
        "rule_id": rule_id,
        "rule_name": rule_name,
        "severity": severity,
        "priority": priority,
        "group": parse_group(group_key),
        "labels": dict(labels or {}),
        "at": stamp,
        "depth": depth,
    }


def too_deep(depth: int) -> bool:
    """Whether an alert event of this depth is dropped (and counted) instead of entering the pipeline."""
    return depth > MAX_DEPTH


def stamp_depth(transitions: list[Transition], first: int, cause: Event) -> None:
    """Give the transitions from index `first` on, all caused by the alert event `cause`, its depth plus one."""
    depth = input_depth(cause.kind, cause.payload) + 1
    for index in range(first, len(transitions)):
        transitions[index] = replace(transitions[index], depth=depth)
