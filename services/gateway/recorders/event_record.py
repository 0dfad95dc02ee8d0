"""How an event record changes: alert transitions, delivery results and ACKs applied to an EventRow (no I/O).

Each function is a pure step on the row's fields, written so that applying the same input twice changes
nothing and a transition that arrives before its `fired` one still leaves the right record behind
(counts and times only move forward, a resolved event never reopens).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from services.common.db.tables import EventRow
from services.common.domain.events.model import format_time, parse_time
from services.common.domain.lifecycle.transitions import Transition
from services.common.messages.alerts import Action, action_dict
from services.common.messages.delivery import DeliveryResult

SYSTEM = "system"
FINAL_STATUSES = frozenset({"sent", "failed", "suppressed"})


def open_event(
    transition: Transition, actions: Sequence[Action], annotations: Mapping[str, str] | None = None
) -> EventRow:
    """The record an episode starts as, from its first transition (normally `fired`), with its labels and its
    rendered annotations."""
    row = EventRow(
        event_id=transition.event_id,
        tenant=transition.tenant,
        rule_id=transition.rule_id,
        rule_name=transition.rule_name,
        rule_version=transition.rule_version,
        trigger_type=transition.trigger_type,
        severity=transition.severity,
        priority=transition.priority,
        status="open",
        fingerprint=transition.fingerprint,
        group_key=transition.group_key,
        fired_at=transition.started_at,
        last_seen=transition.last_seen,
        count=transition.count,
        summary=transition.summary,
        payload=dict(transition.payload),
        explanation=list(transition.explanation),
        value=transition.value,
        notifications=[],
        history=[_entry("open", transition.started_at, SYSTEM, None)],
        labels=dict(transition.labels),
        annotations=dict(annotations or {}),
    )
    apply_transition(row, transition, actions)
    return row


def add_annotations(row: EventRow, annotations: Mapping[str, str] | None) -> None:
    """Annotations rendered for a `fired` that arrived after another transition had opened the record."""
    if annotations and not row.annotations:
        row.annotations = dict(annotations)


def apply_transition(row: EventRow, transition: Transition, actions: Sequence[Action]) -> None:
    """Apply one alert transition (fired, updated or resolved) to its event record."""
    _absorb(row, transition)
    if transition.notify and transition.kind != "updated":
        row.notifications = _with_pending(row.notifications, transition.kind, actions)
    if transition.kind == "resolved" and row.status != "resolved":
        row.status = "resolved"
        row.resolved_at = transition.at
        row.history = _chronological([*row.history, _entry("resolved", transition.at, SYSTEM, transition.reason)])


def _absorb(row: EventRow, transition: Transition) -> None:
    if transition.labels and not row.labels:  # an episode's labels never change; a record from before has none
        row.labels = dict(transition.labels)
    # Counts and last_seen only grow, and the payload is the latest occurrence's, whatever the arrival order.
    row.count = max(row.count, transition.count)
    if transition.last_seen >= row.last_seen:
        row.last_seen = transition.last_seen
        row.payload = dict(transition.payload)
        row.explanation = list(transition.explanation)
        row.value = transition.value
        row.summary = transition.summary


def _with_pending(notifications: list[Any], kind: str, actions: Sequence[Action]) -> list[Any]:
    out = list(notifications)
    for index, action in enumerate(actions):
        channel = action.channel or ""
        if _find(out, kind, index, channel) is None:
            out.append(_pending(kind, index, channel, action.type))
    return out


def _pending(kind: str, index: int, channel: str, channel_type: str) -> dict[str, Any]:
    return {
        "channel": channel,
        "channel_id": None,
        "type": channel_type,
        "status": "pending",
        "attempts": 0,
        "last_error": None,
        "last_attempt_at": None,
        "attempt_log": [],
        "transition": kind,
        "action_index": index,
    }


def _find(notifications: list[Any], kind: str, index: int, channel: str) -> int | None:
    for position, entry in enumerate(notifications):
        same = entry.get("transition") == kind and entry.get("action_index") == index
        if same and entry.get("channel") == channel:
            return position
    return None


def apply_result(row: EventRow, kind: str, result: DeliveryResult) -> None:
    """Fold one delivery attempt's outcome into the `notifications[]` entry of (transition kind, action, channel).

    The entry's status follows the newest attempt (a final outcome wins a tie); the attempt log keeps one
    line per attempt number, so a redelivered result changes nothing.
    """
    entries = [dict(e) for e in row.notifications]
    position = _find(entries, kind, result.action_index, result.channel)
    if position is None:
        entries.append(_pending(kind, result.action_index, result.channel, result.type))
        position = len(entries) - 1
    entries[position] = _merge_result(entries[position], result)
    row.notifications = entries


def _merge_result(entry: dict[str, Any], result: DeliveryResult) -> dict[str, Any]:
    entry = {**entry, "channel_id": result.channel_id or entry.get("channel_id"), "type": result.type}
    if result.via is not None:  # sent by the tenant's notification policy, not by one of the rule's actions
        entry["via"] = result.via
    if result.attempt >= 1:
        line = {
            "n": result.attempt,
            "at": format_time(result.at),
            "status": result.status,
            "latency_ms": result.latency_ms,
            "error": result.error,
        }
        log = [old for old in entry.get("attempt_log", []) if old.get("n") != result.attempt]
        entry["attempt_log"] = sorted([*log, line], key=lambda old: int(old["n"]))
    current = (int(entry.get("attempts") or 0), entry.get("status") in FINAL_STATUSES)
    if (result.attempt, result.final or result.status in FINAL_STATUSES) >= current:
        entry["status"] = result.status
        entry["attempts"] = max(result.attempt, int(entry.get("attempts") or 0))
        entry["last_error"] = result.error
        if result.reason is not None or result.status == "suppressed":
            entry["reason"] = result.reason
        if result.excerpt is not None:
            entry["response_excerpt"] = result.excerpt
        if result.attempt >= 1:
            entry["last_attempt_at"] = format_time(result.at)
    return entry


def acknowledge(row: EventRow, actor: str, note: str | None, at: datetime) -> bool:
    """Record an ACK; False when the event was already acknowledged (a second ACK is a no-op).

    An open event becomes `acked`; a resolved one stays resolved but remembers who acknowledged it.
    """
    if row.acked_at is not None:
        return False
    row.acked_by, row.acked_at = actor, at
    if row.status == "open":
        row.status = "acked"
    row.history = _chronological([*row.history, _entry("acked", at, actor, note)])
    return True


def set_feedback(row: EventRow, label: str, note: str | None, actor: str, at: datetime) -> None:
    """Record (or replace) the precision feedback on an event."""
    row.feedback_label, row.feedback_note, row.feedback_by, row.feedback_at = label, note, actor, at


def _entry(status: str, at: datetime, actor: str, note: str | None) -> dict[str, Any]:
    return {"at": format_time(at), "status": status, "actor": actor, "note": note}


def _chronological(history: list[Any]) -> list[Any]:
    # Stable: entries at the same instant keep the order they were applied in; `open` always stays first.
    return sorted(history, key=lambda e: (e.get("status") != "open", parse_time(e["at"])))


def alert_data(transition: Transition, actions: Sequence[Action]) -> dict[str, Any]:
    """What a transitions row keeps of an alert: the message as received (for audits and replays)."""
    return {**transition.as_dict(), "actions": [action_dict(a) for a in actions]}
