"""SQL access for notification policies: one row per tenant (its current document) and a row per version."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from services.common.db.tables import ChannelRow, NotificationPolicyRow, NotificationPolicyVersionRow
from services.gateway.auth import Principal
from services.gateway.store.versioned_rows import save_versioned


async def get_policy(session: AsyncSession, tenant: str) -> NotificationPolicyRow | None:
    """The tenant's policy row, deleted or not (None when it never had one)."""
    return await session.get(NotificationPolicyRow, tenant)


def live(row: NotificationPolicyRow | None) -> NotificationPolicyRow | None:
    """The row when it holds a policy in force (not deleted)."""
    return row if row is not None and row.deleted_at is None else None


async def save_policy(
    session: AsyncSession,
    tenant: str,
    values: dict[str, Any],
    read_version: int,
    principal: Principal,
    now: datetime,
    change: str,
) -> NotificationPolicyRow | None:
    """Store `values` (document, deleted_at) as version `read_version + 1` and record that version; None when
    another writer got there first."""
    row = await save_versioned(session, NotificationPolicyRow, tenant, values, read_version, principal.name, now)
    if row is None:
        return None
    session.add(
        NotificationPolicyVersionRow(
            tenant=tenant,
            version=row.version,
            change=change,
            document=None if values.get("deleted_at") else values["document"],
            actor_token_id=principal.token_id,
            actor_name=principal.name,
            at=now,
        )
    )
    await session.flush()
    return row


async def list_versions(
    session: AsyncSession, tenant: str, limit: int, before: int | None
) -> tuple[Sequence[NotificationPolicyVersionRow], int]:
    """The tenant's policy versions, newest first (below `before` when given), and how many there are."""
    query = select(NotificationPolicyVersionRow).where(col(NotificationPolicyVersionRow.tenant) == tenant)
    if before is not None:
        query = query.where(col(NotificationPolicyVersionRow.version) < before)
    rows = await session.execute(query.order_by(col(NotificationPolicyVersionRow.version).desc()).limit(limit))
    count = (
        select(func.count())
        .select_from(NotificationPolicyVersionRow)
        .where(col(NotificationPolicyVersionRow.tenant) == tenant)
    )
    return rows.scalars().all(), int((await session.execute(count)).scalar_one())


async def all_policies(session: AsyncSession) -> Sequence[NotificationPolicyRow]:
    """Every tenant's policy row, deleted ones included (the publisher removes their keys)."""
    return (await session.execute(select(NotificationPolicyRow))).scalars().all()


async def channel_refs(session: AsyncSession, tenant: str) -> set[str]:
    """The ids and names of the tenant's live channels: what a receiver may name."""
    query = select(col(ChannelRow.channel_id), col(ChannelRow.name)).where(
        col(ChannelRow.tenant) == tenant, col(ChannelRow.deleted_at).is_(None)
    )
    return {ref for row in (await session.execute(query)).all() for ref in row}
