"""SQL access for silences: a tenant's silences by state, one by id, inserts and conditional updates.

A silence's state depends on the time: the state filter compares `starts_at` and `ends_at` with `now` (a silence
without an end, a recurring one, never expires on its own). Silences are never deleted; expiring one ends it now.
Inserts and the compare-and-set update are the shared ones of versioned rows (versioned_rows.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.common.db.tables import SilenceRow
from services.common.domain.silences.model import SilenceState
from services.gateway.store import keyset
from services.gateway.store.versioned_rows import insert_row, one_row, update_at_version

# Expired silences stay in the bucket's reconciliation this long, so their keys are surely removed.
MIRROR_GRACE = timedelta(days=1)


def state_is(state: SilenceState, now: datetime) -> ColumnElement[bool]:
    """Rows in `state` at `now` (the SQL twin of `row_state`)."""
    starts, ends = col(SilenceRow.starts_at), col(SilenceRow.ends_at)
    if state is SilenceState.PENDING:
        return starts > now
    if state is SilenceState.EXPIRED:
        return and_(ends.is_not(None), ends < now)
    return and_(starts <= now, or_(ends.is_(None), ends >= now))


async def list_silences(
    session: AsyncSession,
    tenant: str,
    *,
    states: Sequence[SilenceState],
    now: datetime,
    limit: int,
    after: tuple[datetime, str] | None,
) -> tuple[list[SilenceRow], int]:
    """A tenant's silences in any of `states` (all when empty), oldest first (created_at, id), and their total."""
    query = select(SilenceRow).where(col(SilenceRow.tenant) == tenant)
    if states:
        query = query.where(or_(*(state_is(state, now) for state in states)))
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    if after is not None:
        at, ident = after
        query = query.where(keyset.after(col(SilenceRow.created_at), col(SilenceRow.silence_id), at, ident))
    order = (col(SilenceRow.created_at), col(SilenceRow.silence_id))
    rows = await session.execute(query.order_by(*order).limit(limit))
    return list(rows.scalars()), total


async def fixed_silences(session: AsyncSession, tenant: str) -> list[SilenceRow]:
    """Every fixed (Alertmanager) silence of the tenant, expired ones included."""
    # A JSON column may hold JSON `null` rather than SQL NULL: tell recurring silences apart in Python.
    query = select(SilenceRow).where(col(SilenceRow.tenant) == tenant)
    return [row for row in (await session.execute(query)).scalars() if row.recurrence is None]


async def get_silence(
    session: AsyncSession, tenant: str, silence_id: str, *, for_update: bool = False
) -> SilenceRow | None:
    """A silence of the tenant, or None (another tenant's silence is None too)."""
    this = (col(SilenceRow.tenant) == tenant) & (col(SilenceRow.silence_id) == silence_id)
    return await one_row(session, SilenceRow, this, for_update=for_update)


insert_silence = insert_row  # flushed: a violation raises inside the caller's write


async def update_silence(
    session: AsyncSession, tenant: str, silence_id: str, expected_version: int, values: dict[str, Any]
) -> bool:
    """Write `values` only if the row is still at `expected_version`."""
    this = (col(SilenceRow.tenant) == tenant) & (col(SilenceRow.silence_id) == silence_id)
    return await update_at_version(session, SilenceRow, this, expected_version, values)


async def mirrored_silences(session: AsyncSession, now: datetime) -> list[SilenceRow]:
    """The silences of every tenant whose bucket key may exist: not expired, or expired within MIRROR_GRACE."""
    ends = col(SilenceRow.ends_at)
    query = select(SilenceRow).where(or_(ends.is_(None), ends >= now - MIRROR_GRACE))
    return list((await session.execute(query)).scalars())


async def unexpired_silences(session: AsyncSession, tenant: str, now: datetime) -> list[SilenceRow]:
    """The tenant's silences that may mute now or later (fixed and recurring): those not ended before `now`."""
    ends = col(SilenceRow.ends_at)
    query = select(SilenceRow).where(col(SilenceRow.tenant) == tenant, or_(ends.is_(None), ends >= now))
    return list((await session.execute(query)).scalars())
