"""SQL access for tenant settings (team policies): one row per tenant, absent until an admin writes it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.common.db.tables import TenantSettingsRow
from services.common.domain.rules.policies import TeamPolicies


async def get_settings(session: AsyncSession, tenant: str) -> TenantSettingsRow | None:
    """The tenant's settings row, or None (every policy off)."""
    return await session.get(TenantSettingsRow, tenant)


def policies_of(row: TenantSettingsRow | None) -> TeamPolicies:
    """The team policies a settings row holds (all off without one)."""
    return TeamPolicies.model_validate((row.settings if row is not None else {}).get("policies") or {})


async def save_settings(
    session: AsyncSession, tenant: str, settings: dict[str, Any], read_version: int, by: str, now: datetime
) -> TenantSettingsRow | None:
    """Store the settings as version `read_version + 1`: the first row (read_version 0) is inserted, a later one
    replaces the row only if it is still at `read_version`. None when another writer got there first."""
    row = TenantSettingsRow(tenant=tenant, settings=settings, version=read_version + 1, updated_at=now, updated_by=by)
    if read_version == 0:
        session.add(row)
        await session.flush()  # a concurrent first write fails here (IntegrityError on the primary key)
        return row
    result = await session.execute(
        update(TenantSettingsRow)
        .where(col(TenantSettingsRow.tenant) == tenant, col(TenantSettingsRow.version) == read_version)
        .values(settings=settings, version=row.version, updated_at=now, updated_by=by)
        .execution_options(synchronize_session=False)
    )
    return row if cast(CursorResult[Any], result).rowcount else None
