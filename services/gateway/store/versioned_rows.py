"""One versioned row per tenant (team policies, quota overrides): the compare-and-set write both use."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col

Row = TypeVar("Row", bound=SQLModel)


async def save_versioned(
    session: AsyncSession,
    table: type[Row],
    tenant: str,
    values: dict[str, Any],
    read_version: int,
    by: str,
    now: datetime,
) -> Row | None:
    """Store `values` as the tenant's row at version `read_version + 1`.

    The first row (read_version 0) is inserted; a later one replaces the row only if it is still at `read_version`.
    None when another writer got there first (a concurrent first write fails at the flush with an IntegrityError).
    """
    stamp = {"version": read_version + 1, "updated_at": now, "updated_by": by}
    row = table(tenant=tenant, **values, **stamp)
    if read_version == 0:
        session.add(row)
        await session.flush()
        return row
    table_: Any = table
    result = await session.execute(
        update(table)
        .where(col(table_.tenant) == tenant, col(table_.version) == read_version)
        .values(**values, **stamp)
        .execution_options(synchronize_session=False)
    )
    return row if cast(CursorResult[Any], result).rowcount else None
