"""Versioned rows: the optimistic writes every versioned table shares.

Each row carries a `version` that a write bumps. For tables with a row per id (inhibit rules, silences): `one_row`
reads one (locked for a write), `insert_row` adds one, `update_at_version` is the compare-and-set (`UPDATE ...
WHERE version = :read`). `save_versioned` builds on them for tables with one row per tenant (team policies, quota
overrides), whose first version is an insert.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col

Row = TypeVar("Row", bound=SQLModel)


async def one_row(
    session: AsyncSession, table: type[Row], where: ColumnElement[bool], *, for_update: bool = False
) -> Row | None:
    """The row `where` selects, or None. `for_update` locks it until the transaction ends (PostgreSQL; SQLite's write
    transactions already hold the database lock), so read-modify-writes of one row queue instead of racing."""
    table_: Any = table
    query = select(table_).where(where)
    if for_update:
        query = query.with_for_update()
    return cast(Row | None, (await session.execute(query)).scalar_one_or_none())


async def insert_row(session: AsyncSession, row: SQLModel) -> None:
    """Insert a new row now (flushed: a unique or foreign key violation raises here, inside the caller's write)."""
    session.add(row)
    await session.flush()


async def update_at_version(
    session: AsyncSession,
    table: type[SQLModel],
    where: ColumnElement[bool],
    read_version: int,
    values: dict[str, Any],
) -> bool:
    """Write `values` (which bump `version`) to the row `where` selects only if it is still at `read_version`;
    False when another writer got there first (or `where` selects no row)."""
    table_: Any = table
    result = await session.execute(
        update(table)
        .where(where, col(table_.version) == read_version)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(cast(CursorResult[Any], result).rowcount)


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
        await insert_row(session, row)
        return row
    table_: Any = table
    saved = await update_at_version(session, table, col(table_.tenant) == tenant, read_version, {**values, **stamp})
    return row if saved else None
