"""SQL access for channels: live rows per tenant, optimistic updates, soft deletes, and channel test results."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import func, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.common.db.tables import ChannelRow
from services.gateway.store import keyset


def _live(tenant: str) -> Any:
    return (col(ChannelRow.tenant) == tenant) & col(ChannelRow.deleted_at).is_(None)


async def list_channels(
    session: AsyncSession, tenant: str, limit: int, after: tuple[datetime, str] | None
) -> tuple[list[ChannelRow], int]:
    """A tenant's live channels, oldest first (keyset: created_at, channel_id), and their total."""
    query = select(ChannelRow).where(_live(tenant))
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    if after is not None:
        at, channel_id = after
        query = query.where(keyset.after(col(ChannelRow.created_at), col(ChannelRow.channel_id), at, channel_id))
    rows = await session.execute(query.order_by(col(ChannelRow.created_at), col(ChannelRow.channel_id)).limit(limit))
    return list(rows.scalars()), total


async def get_channel(
    session: AsyncSession, tenant: str, channel_id: str, *, for_update: bool = False
) -> ChannelRow | None:
    """A live channel of the tenant, or None (another tenant's channel is None too)."""
    query = select(ChannelRow).where(_live(tenant), col(ChannelRow.channel_id) == channel_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def find_channel(session: AsyncSession, tenant: str, ref: str) -> ChannelRow | None:
    """A live channel of the tenant by id or, failing that, by name (actions may name either)."""
    row = await get_channel(session, tenant, ref)
    if row is not None:
        return row
    query = select(ChannelRow).where(_live(tenant), col(ChannelRow.name) == ref)
    return (await session.execute(query)).scalar_one_or_none()


async def name_taken(session: AsyncSession, tenant: str, name: str, except_id: str | None = None) -> bool:
    """Whether another live channel of the tenant has this name."""
    query = select(col(ChannelRow.channel_id)).where(_live(tenant), col(ChannelRow.name) == name)
    if except_id is not None:
        query = query.where(col(ChannelRow.channel_id) != except_id)
    return (await session.execute(query.limit(1))).first() is not None


async def insert_channel(session: AsyncSession, row: ChannelRow) -> None:
    """Insert a new channel row."""
    session.add(row)
    await session.flush()


async def update_channel(
    session: AsyncSession, tenant: str, channel_id: str, expected_version: int, values: dict[str, Any]
) -> bool:
    """Write `values` only if the live row is still at `expected_version`."""
    result = await session.execute(
        update(ChannelRow)
        .where(_live(tenant), col(ChannelRow.channel_id) == channel_id, col(ChannelRow.version) == expected_version)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(cast(CursorResult[Any], result).rowcount)


async def record_test(
    session: AsyncSession, tenant: str, channel_id: str, at: datetime, ok: bool, error: dict[str, Any] | None
) -> None:
    """Store the outcome of a channel test on the channel (its status; the version does not change)."""
    await session.execute(
        update(ChannelRow)
        .where(_live(tenant), col(ChannelRow.channel_id) == channel_id)
        .values(last_test_at=at, last_test_ok=ok, last_test_error=error)
        .execution_options(synchronize_session=False)
    )


async def all_channels(session: AsyncSession) -> list[ChannelRow]:
    """Every channel row of every tenant, deleted ones included (for reconciling the channels bucket)."""
    return list((await session.execute(select(ChannelRow))).scalars().all())


async def replace_stored(
    session: AsyncSession, channel_id: str, expected_version: int, config: dict[str, Any], secrets: dict[str, Any]
) -> bool:
    """Rewrite how a row (live or deleted) stores its config and secrets, same version, if still at that version."""
    result = await session.execute(
        update(ChannelRow)
        .where(col(ChannelRow.channel_id) == channel_id, col(ChannelRow.version) == expected_version)
        .values(config=config, secrets=secrets)
        .execution_options(synchronize_session=False)
    )
    return bool(cast(CursorResult[Any], result).rowcount)
