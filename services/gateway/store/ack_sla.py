"""SQL reads of the ACK-SLA check: which tenants have events, and which open events of a tenant are past their SLA.

Both ride the events indexes (no migration needed): the tenants come from a loose scan of
`ix_events_tenant_fired` (one index probe per tenant, not a scan of the table), the candidates from a range of
`ix_events_tenant_status_fired` (tenant, `open`, fired_at up to the loosest cutoff), each checked against the
transitions primary key (`sla:<event id>`: already reported).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import String, and_, exists, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.common.db.tables import EventRow, TransitionRow
from services.common.domain.lifecycle.ack_sla import SLA_EVENT, Watched


async def event_tenants(session: AsyncSession) -> list[str]:
    """Every tenant that has events, in name order."""
    tenant = col(EventRow.tenant)
    walk = select(func.min(tenant).label("tenant")).cte("sla_tenants", recursive=True)
    following = select(func.min(tenant)).where(tenant > walk.c.tenant).scalar_subquery()
    walk = walk.union_all(select(following).where(walk.c.tenant.is_not(None)))
    rows = await session.execute(select(walk.c.tenant).where(walk.c.tenant.is_not(None)))
    return [str(name) for (name,) in rows.all()]


async def overdue_events(
    session: AsyncSession, tenant: str, cutoffs: Mapping[str, datetime], limit: int
) -> list[Watched]:
    """A tenant's open events fired at or before their priority's cutoff and not reported yet, oldest first.

    Events about a breach itself are left out here already (the domain check says why), so they can never
    take up a batch that real breaches wait behind.
    """
    if not cutoffs:
        return []
    fired, priority = col(EventRow.fired_at), col(EventRow.priority)
    reported = exists().where(col(TransitionRow.transition_id) == literal("sla:", String) + col(EventRow.event_id))
    event_type = func.coalesce(col(EventRow.payload)["event_type"].as_string(), "")
    query = (
        select(EventRow)
        .where(
            col(EventRow.tenant) == tenant,
            col(EventRow.status) == "open",
            fired <= max(cutoffs.values()),
            or_(*(and_(priority == p, fired <= at) for p, at in cutoffs.items())),
            ~reported,
            event_type != SLA_EVENT,
        )
        .order_by(fired)
        .limit(limit)
    )
    return [watched(row) for row in (await session.execute(query)).scalars()]


def watched(row: EventRow) -> Watched:
    """What the check needs of an event row."""
    event_type = (row.payload or {}).get("event_type")
    return Watched(
        event_id=row.event_id,
        tenant=row.tenant,
        rule_id=row.rule_id,
        rule_name=row.rule_name,
        priority=row.priority,
        severity=row.severity,
        status=row.status,
        fired_at=row.fired_at,
        fingerprint=row.fingerprint,
        group_key=row.group_key,
        summary=row.summary,
        event_type=event_type if isinstance(event_type, str) else None,
        acked_at=row.acked_at,
        resolved_at=row.resolved_at,
    )
