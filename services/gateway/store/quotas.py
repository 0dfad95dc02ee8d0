"""SQL access for tenant quota overrides (one row per tenant once the platform admin sets one) and the counts
the gateway's quotas limit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.common.db.tables import (
    InhibitRuleRow,
    PollingTargetRow,
    RuleRow,
    SilenceRow,
    TenantQuotaRow,
    TenantRow,
)
from services.gateway.store.versioned_rows import save_versioned


async def tenant_exists(session: AsyncSession, tenant: str, *, lock: bool = False) -> bool:
    """Whether the tenant exists; `lock` holds its row until the transaction ends (PostgreSQL), so two writes
    that each check a count against a quota cannot both pass."""
    query = select(col(TenantRow.name)).where(col(TenantRow.name) == tenant)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).first() is not None


async def get_overrides(session: AsyncSession, tenant: str) -> TenantQuotaRow | None:
    """The tenant's override row, or None (the defaults apply)."""
    return await session.get(TenantQuotaRow, tenant)


async def all_overrides(session: AsyncSession) -> list[TenantQuotaRow]:
    """Every override row (for mirroring the effective quotas into their bucket)."""
    return list((await session.execute(select(TenantQuotaRow))).scalars())


async def save_overrides(
    session: AsyncSession, tenant: str, overrides: dict[str, Any], read_version: int, by: str, now: datetime
) -> TenantQuotaRow | None:
    """Store the overrides as version `read_version + 1`; None when another writer got there first."""
    return await save_versioned(session, TenantQuotaRow, tenant, {"overrides": overrides}, read_version, by, now)


async def count_rules(session: AsyncSession, tenant: str) -> int:
    """The tenant's rules (active or not; deleted ones do not count)."""
    query = select(func.count()).where(col(RuleRow.tenant) == tenant, col(RuleRow.deleted_at).is_(None))
    return int((await session.execute(query)).scalar_one())


async def count_polling_targets(session: AsyncSession, tenant: str) -> int:
    """The tenant's metric-polling targets (deleted ones do not count)."""
    live = (col(PollingTargetRow.tenant) == tenant) & col(PollingTargetRow.deleted_at).is_(None)
    return int((await session.execute(select(func.count()).where(live))).scalar_one())


async def count_silences(session: AsyncSession, tenant: str, now: datetime) -> int:
    """The tenant's silences that are active or pending at `now` (expired ones do not count; recurring ones without
    an end never expire)."""
    ends = col(SilenceRow.ends_at)
    unexpired = (col(SilenceRow.tenant) == tenant) & or_(ends.is_(None), ends >= now)
    return int((await session.execute(select(func.count()).where(unexpired))).scalar_one())


async def count_inhibit_rules(session: AsyncSession, tenant: str) -> int:
    """The tenant's inhibit rules (deleted ones do not count)."""
    live = (col(InhibitRuleRow.tenant) == tenant) & col(InhibitRuleRow.deleted_at).is_(None)
    return int((await session.execute(select(func.count()).where(live))).scalar_one())
