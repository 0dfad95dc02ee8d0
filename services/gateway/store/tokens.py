"""SQL access for tenants and tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.common.db.tables import TenantRow, TokenRow
from services.gateway.store import keyset


async def ensure_tenant(session: AsyncSession, name: str, now: datetime) -> None:
    """Create the tenant unless it exists (safe under concurrent first tokens)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(TenantRow).values(name=name, created_at=now).on_conflict_do_nothing(index_elements=["name"])
    await session.execute(statement)


async def list_tenants(session: AsyncSession, limit: int, after: str | None) -> tuple[list[TenantRow], int]:
    """Tenants by name, `limit` of them after the name `after`, and the total count."""
    query = select(TenantRow).order_by(col(TenantRow.name)).limit(limit)
    if after is not None:
        query = query.where(col(TenantRow.name) > after)
    rows = list((await session.execute(query)).scalars())
    total = (await session.execute(select(func.count()).select_from(TenantRow))).scalar_one()
    return rows, total


async def find_by_hash(session: AsyncSession, token_hash: str) -> TokenRow | None:
    """The token whose secret hashes to `token_hash`, revoked or not."""
    return (await session.execute(select(TokenRow).where(col(TokenRow.token_hash) == token_hash))).scalar_one_or_none()


async def get_token(session: AsyncSession, token_id: str) -> TokenRow | None:
    """A token by id."""
    return await session.get(TokenRow, token_id)


async def get_tokens(session: AsyncSession, token_ids: list[str]) -> dict[str, TokenRow]:
    """The tokens of these ids that exist, by id (one query)."""
    if not token_ids:
        return {}
    rows = (await session.execute(select(TokenRow).where(col(TokenRow.token_id).in_(token_ids)))).scalars()
    return {row.token_id: row for row in rows}


async def add_token(session: AsyncSession, row: TokenRow) -> None:
    """Insert a minted token."""
    session.add(row)
    await session.flush()


async def list_tokens(
    session: AsyncSession, tenant: str, limit: int, after: tuple[datetime, str] | None
) -> tuple[list[TokenRow], int]:
    """A tenant's tokens, oldest first (keyset on created_at, token_id), and the total count."""
    query = select(TokenRow).where(col(TokenRow.tenant) == tenant)
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    if after is not None:
        query = query.where(keyset.after(col(TokenRow.created_at), col(TokenRow.token_id), *after))
    query = query.order_by(col(TokenRow.created_at), col(TokenRow.token_id)).limit(limit)
    return list((await session.execute(query)).scalars()), total


async def revoke(session: AsyncSession, token_id: str, now: datetime) -> bool:
    """Mark a token revoked; False when it already was."""
    result = await session.execute(
        update(TokenRow)
        .where(col(TokenRow.token_id) == token_id, col(TokenRow.revoked_at).is_(None))
        .values(revoked_at=now)
    )
    return bool(cast(CursorResult[Any], result).rowcount)
