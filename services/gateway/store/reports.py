"""SQL of the Daily Report: a tenant's events in a time window, counted per rule, severity and status."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.common.db.tables import EventRow
from services.common.domain.notify.reports import EventCount, ReportWindow


async def event_counts(session: AsyncSession, window: ReportWindow) -> list[EventCount]:
    """Events fired in the window (on `ix_events_tenant_fired`), grouped, with their occurrences summed."""
    fired = col(EventRow.fired_at)
    keys = (col(EventRow.rule_id), col(EventRow.rule_name), col(EventRow.severity), col(EventRow.status))
    query = (
        select(*keys, func.count(), func.coalesce(func.sum(col(EventRow.count)), 0))
        .where(col(EventRow.tenant) == window.tenant, fired >= window.since, fired < window.until)
        .group_by(*keys)
    )
    if window.exclude_rule_id is not None:
        query = query.where(col(EventRow.rule_id) != window.exclude_rule_id)
    rows = await session.execute(query)
    return [EventCount(str(a), str(b), str(c), str(d), int(n), int(total)) for a, b, c, d, n, total in rows.all()]
