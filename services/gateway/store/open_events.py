"""The open events of a tenant with their label sets: what silence and inhibition previews match against.

`open_event_labels` is the one place that reads an event's labels: the event row's `labels` column (the labels its
episode opened with). An event recorded before events carried labels has `{}` there; its labels are derived from
the row (`alertname` = rule name, `severity`, `priority`, and the group key `a=b,c=d` split into labels).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.common.db.tables import EventRow
from services.common.domain.labels.event_labels import label_name
from services.common.domain.labels.label_set import fingerprint, normalize
from services.common.domain.lifecycle.transitions import group_pairs


@dataclass(frozen=True)
class OpenEvent:
    """An open (or acknowledged) event and its labels."""

    event_id: str
    rule_id: str
    rule_name: str
    status: str
    fired_at: datetime
    labels: dict[str, str]

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.labels)


async def open_event_labels(session: AsyncSession, tenant: str, limit: int) -> tuple[list[OpenEvent], bool]:
    """The tenant's newest `limit` unresolved events with their labels, and whether more were left out."""
    rows, truncated = await open_event_rows(session, tenant, limit)
    return [open_event(row) for row in rows], truncated


async def open_event_rows(session: AsyncSession, tenant: str, limit: int) -> tuple[list[EventRow], bool]:
    """The tenant's newest `limit` unresolved event rows, and whether more were left out."""
    query = (
        select(EventRow)
        .where(col(EventRow.tenant) == tenant, col(EventRow.resolved_at).is_(None))
        .order_by(col(EventRow.fired_at).desc(), col(EventRow.event_id).desc())
        .limit(limit + 1)
    )
    rows = list((await session.execute(query)).scalars())
    return rows[:limit], len(rows) > limit


def open_event(row: EventRow) -> OpenEvent:
    """An event row as an OpenEvent, with its labels (derived from the row for one recorded before labels)."""
    if row.labels:
        return OpenEvent(row.event_id, row.rule_id, row.rule_name, row.status, row.fired_at, normalize(row.labels))
    labels = {"severity": row.severity, "priority": row.priority, "alertname": row.rule_name}
    labels.update((label_name(name), value) for name, value in group_pairs(row.group_key))
    return OpenEvent(row.event_id, row.rule_id, row.rule_name, row.status, row.fired_at, normalize(labels))
