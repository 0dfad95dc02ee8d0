"""How often each rule fired and when last: one grouped SQL read of the events table (an event = one episode)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.common.db.tables import EventRow


@dataclass(frozen=True)
class Firings:
    """A rule's firing record: the number of events it opened and when the latest one fired."""

    count: int = 0
    last_fired_at: datetime | None = None


async def firings(session: AsyncSession, tenant: str, rule_ids: Sequence[str]) -> dict[str, Firings]:
    """The firing record of each listed rule of the tenant that has fired (rules that never fired are absent).

    Rides the `ix_events_tenant_rule_fired` index (tenant, rule_id, fired_at).
    """
    if not rule_ids:
        return {}
    rule = col(EventRow.rule_id)
    query = (
        select(rule, func.count(), func.max(col(EventRow.fired_at)))
        .where(col(EventRow.tenant) == tenant, rule.in_(list(rule_ids)))
        .group_by(rule)
    )
    rows = await session.execute(query)
    return {rule_id: Firings(int(count), last) for rule_id, count, last in rows.all()}
