"""SQL access for inhibit rules: live rows per tenant, their versions, optimistic updates, soft deletes.

Inserts and the compare-and-set update are the shared ones of versioned rows (versioned_rows.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.common.db.tables import InhibitRuleRow, InhibitRuleVersionRow
from services.gateway.store import keyset
from services.gateway.store.audit import Actor
from services.gateway.store.versioned_rows import insert_row, one_row, update_at_version


def _live(tenant: str) -> Any:
    return (col(InhibitRuleRow.tenant) == tenant) & col(InhibitRuleRow.deleted_at).is_(None)


async def list_rules(
    session: AsyncSession, tenant: str, limit: int, after: tuple[datetime, str] | None
) -> tuple[list[InhibitRuleRow], int]:
    """A tenant's live inhibit rules, oldest first (keyset: created_at, rule_id), and their total."""
    query = select(InhibitRuleRow).where(_live(tenant))
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    if after is not None:
        at, rule_id = after
        query = query.where(keyset.after(col(InhibitRuleRow.created_at), col(InhibitRuleRow.rule_id), at, rule_id))
    order = (col(InhibitRuleRow.created_at), col(InhibitRuleRow.rule_id))
    rows = await session.execute(query.order_by(*order).limit(limit))
    return list(rows.scalars()), total


async def live_rules(session: AsyncSession, tenant: str) -> list[InhibitRuleRow]:
    """Every live inhibit rule of the tenant, oldest first."""
    query = select(InhibitRuleRow).where(_live(tenant)).order_by(col(InhibitRuleRow.created_at))
    return list((await session.execute(query)).scalars())


async def get_rule(
    session: AsyncSession, tenant: str, rule_id: str, *, for_update: bool = False, deleted_too: bool = False
) -> InhibitRuleRow | None:
    """A live inhibit rule of the tenant (or a deleted one too), or None (another tenant's rule is None too)."""
    where = col(InhibitRuleRow.tenant) == tenant if deleted_too else _live(tenant)
    return await one_row(
        session, InhibitRuleRow, where & (col(InhibitRuleRow.rule_id) == rule_id), for_update=for_update
    )


insert_rule = insert_row  # flushed: a violation raises inside the caller's write


async def update_rule(
    session: AsyncSession, tenant: str, rule_id: str, expected_version: int, values: dict[str, Any]
) -> bool:
    """Write `values` only if the live row is still at `expected_version`."""
    this = _live(tenant) & (col(InhibitRuleRow.rule_id) == rule_id)
    return await update_at_version(session, InhibitRuleRow, this, expected_version, values)


async def add_version(session: AsyncSession, row: InhibitRuleRow, change: str, actor: Actor, at: datetime) -> None:
    """Record the row's current version (`change`: created, replaced, deleted)."""
    await insert_row(
        session,
        InhibitRuleVersionRow(
            rule_id=row.rule_id,
            tenant=row.tenant,
            version=row.version,
            change=change,
            spec=row.spec,
            actor_token_id=actor.token_id,
            actor_name=actor.name,
            at=at,
        ),
    )


async def versions(session: AsyncSession, tenant: str, rule_id: str) -> list[InhibitRuleVersionRow]:
    """Every version of a rule of the tenant, newest first."""
    query = (
        select(InhibitRuleVersionRow)
        .where(col(InhibitRuleVersionRow.tenant) == tenant, col(InhibitRuleVersionRow.rule_id) == rule_id)
        .order_by(col(InhibitRuleVersionRow.version).desc())
    )
    return list((await session.execute(query)).scalars())


async def all_rules(session: AsyncSession) -> list[InhibitRuleRow]:
    """Every inhibit rule of every tenant, deleted ones included (for reconciling the bucket)."""
    return list((await session.execute(select(InhibitRuleRow))).scalars().all())
