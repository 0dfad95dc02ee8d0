"""SQL access for tenant settings (team policies): one row per tenant, absent until an admin writes it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db.tables import TenantSettingsRow
from services.common.domain.rules.policies import TeamPolicies
from services.gateway.store.versioned_rows import save_versioned


async def get_settings(session: AsyncSession, tenant: str) -> TenantSettingsRow | None:
    """The tenant's settings row, or None (every policy off)."""
    return await session.get(TenantSettingsRow, tenant)


def policies_of(row: TenantSettingsRow | None) -> TeamPolicies:
    """The team policies a settings row holds (all off without one)."""
    return TeamPolicies.model_validate((row.settings if row is not None else {}).get("policies") or {})


async def save_settings(
    session: AsyncSession, tenant: str, settings: dict[str, Any], read_version: int, by: str, now: datetime
) -> TenantSettingsRow | None:
    """Store the settings as version `read_version + 1`; None when another writer got there first."""
    return await save_versioned(session, TenantSettingsRow, tenant, {"settings": settings}, read_version, by, now)
