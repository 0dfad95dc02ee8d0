"""The filters of `GET /cep/events` as one SQL predicate, and as the query string that reproduces them.

The stats routes count their figures with the very predicate the list uses, so a figure's `query` lists exactly
the events it counts.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlmodel import col

from services.common.db.tables import EventRow
from services.gateway.store.portable import element_text, json_elements


@dataclass(frozen=True)
class EventFilter:
    """The filters of `GET /cep/events`; `since`/`until` bound `fired_at` (both inclusive).

    `acked`: whether the event was acknowledged (an ACK of a resolved event counts). `feedback`: its precision
    label, `any` (labelled) or `none`. `notification_status` and `channel` match one `notifications[]` entry:
    with both, the same entry must have that status and channel (its channel id, or the name the action used).
    `labels`: (name, value) pairs the event's labels must all hold exactly (`?label=team=sre`, repeatable).
    """

    rule_id: str | None = None
    severity: str | None = None
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    trigger_type: str | None = None
    acked: bool | None = None
    feedback: str | None = None
    notification_status: str | None = None
    channel: str | None = None
    labels: tuple[tuple[str, str], ...] = ()

    def query(self) -> dict[str, str]:
        """The query parameters of `GET /cep/events` that apply these filters (times in RFC 3339 UTC)."""
        out: dict[str, str] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name == "labels":
                continue  # repeatable: see href
            if isinstance(value, datetime):
                out[item.name] = value.astimezone(UTC).isoformat().replace("+00:00", "Z")
            elif isinstance(value, bool):
                out[item.name] = "true" if value else "false"
            elif value is not None:
                out[item.name] = str(value)
        return out

    def href(self) -> str:
        """The `GET /cep/events` URL (path and query) that lists the matching events."""
        query = [*self.query().items(), *(("label", f"{name}={value}") for name, value in self.labels)]
        return "/cep/events" + (f"?{urlencode(query)}" if query else "")


def matching(tenant: str, filters: EventFilter, dialect: str) -> ColumnElement[bool]:
    """The tenant's events that pass every filter (`dialect`: the session's, for the notification filters)."""
    clauses: list[ColumnElement[bool]] = [col(EventRow.tenant) == tenant]
    for column, value in (
        (EventRow.rule_id, filters.rule_id),
        (EventRow.severity, filters.severity),
        (EventRow.status, filters.status),
        (EventRow.trigger_type, filters.trigger_type),
    ):
        if value is not None:
            clauses.append(col(column) == value)
    if filters.since is not None:
        clauses.append(col(EventRow.fired_at) >= filters.since)
    if filters.until is not None:
        clauses.append(col(EventRow.fired_at) <= filters.until)
    if filters.acked is not None:
        acked_at = col(EventRow.acked_at)
        clauses.append(acked_at.is_not(None) if filters.acked else acked_at.is_(None))
    if filters.feedback is not None:
        clauses.append(_feedback(filters.feedback))
    labels: Any = col(EventRow.labels)  # a JSON column: indexing and as_string() come from the JSON type
    for name, value in filters.labels:
        clauses.append(labels[name].as_string() == value)
    if filters.notification_status is not None or filters.channel is not None:
        clauses.append(_notification(filters.notification_status, filters.channel, dialect))
    return and_(*clauses)


def _feedback(label: str) -> ColumnElement[bool]:
    column = col(EventRow.feedback_label)
    if label == "any":
        return column.is_not(None)
    if label == "none":
        return column.is_(None)
    return column == label


def _notification(status: str | None, channel: str | None, dialect: str) -> ColumnElement[bool]:
    entries = json_elements(col(EventRow.notifications), dialect, "entry")
    clauses: list[ColumnElement[bool]] = []
    if status is not None:
        clauses.append(element_text(entries, "status") == status)
    if channel is not None:
        clauses.append(or_(element_text(entries, "channel_id") == channel, element_text(entries, "channel") == channel))
    return exists(select(1).select_from(entries).where(*clauses))
