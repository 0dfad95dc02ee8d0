"""SQL access for metric-polling targets: live rows per tenant, optimistic updates, soft deletes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import func, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.common.db.tables import PollingTargetRow
from services.gateway.store import keyset


def _live(tenant: str) -> Any:
    return (col(PollingTargetRow.tenant) == tenant) & col(PollingTargetRow.deleted_at).is_(None)


async def list_targets(
    session: AsyncSession, tenant: str, limit: int, after: tuple[datetime, str] | None
) -> tuple[list[PollingTargetRow], int]:
    """A tenant's live targets, oldest first (keyset: created_at, target_id), and their total."""
    query = select(PollingTargetRow).where(_live(tenant))
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    if after is not None:
        at, target_id = after
        query = query.where(
            keyset.after(col(PollingTargetRow.created_at), col(PollingTargetRow.target_id), at, target_id)
        )
    order = (col(PollingTargetRow.created_at), col(PollingTargetRow.target_id))
    rows = await session.execute(query.order_by(*order).limit(limit))
    return list(rows.scalars()), total


async def get_target(
    session: AsyncSession, tenant: str, target_id: str, *, for_update: bool = False
) -> PollingTargetRow | None:
    """A live target of the tenant, or None (another tenant's target is None too)."""
    query = select(PollingTargetRow).where(_live(tenant), col(PollingTargetRow.target_id) == target_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def name_taken(session: AsyncSession, tenant: str, name: str, except_id: str | None = None) -> bool:
    """Whether another live target of the tenant has this name."""
    query = select(col(PollingTargetRow.target_id)).where(_live(tenant), col(PollingTargetRow.name) == name)
    if except_id is not None:
        query = query.where(col(PollingTargetRow.target_id) != except_id)
    return (await session.execute(query.limit(1))).first() is not None


async def insert_target(session: AsyncSession, row: PollingTargetRow) -> None:
    session.add(row)
    await session.flush()


async def update_target(
    session: AsyncSession, tenant: str, target_id: str, expected_version: int, values: dict[str, Any]
) -> bool:
    """Write `values` only if the live row is still at `expected_version`."""
    result = await session.execute(
        update(PollingTargetRow)
        .where(
            _live(tenant),
            col(PollingTargetRow.target_id) == target_id,
            col(PollingTargetRow.version) == expected_version,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(cast(CursorResult[Any], result).rowcount)


async def all_targets(session: AsyncSession) -> list[PollingTargetRow]:
    """Every target row of every tenant, deleted ones included (for reconciling the polling bucket)."""
    return list((await session.execute(select(PollingTargetRow))).scalars().all())
