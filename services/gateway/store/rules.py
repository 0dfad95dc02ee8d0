"""SQL access for rules and their versions; optimistic concurrency is `UPDATE ... WHERE version = :v`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.common.db.tables import RuleRow, RuleVersionRow
from services.gateway.store import keyset


@dataclass(frozen=True)
class RuleFilter:
    """The filters of `GET /cep/rules`."""

    active: bool | None = None
    trigger_type: str | None = None
    q: str | None = None


def _live(tenant: str) -> Any:
    return (col(RuleRow.tenant) == tenant) & col(RuleRow.deleted_at).is_(None)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filtered(tenant: str, filters: RuleFilter) -> Any:
    query = select(RuleRow).where(_live(tenant))
    if filters.active is not None:
        query = query.where(col(RuleRow.active) == filters.active)
    if filters.trigger_type is not None:
        query = query.where(col(RuleRow.trigger_type) == filters.trigger_type)
    if filters.q:
        pattern = f"%{_escape_like(filters.q.lower())}%"
        query = query.where(
            or_(
                func.lower(col(RuleRow.name)).like(pattern, escape="\\"),
                func.lower(func.coalesce(col(RuleRow.description), "")).like(pattern, escape="\\"),
            )
        )
    return query


async def list_rules(
    session: AsyncSession, tenant: str, filters: RuleFilter, limit: int, after: tuple[datetime, str] | None
) -> tuple[list[RuleRow], int]:
    """A tenant's live rules matching the filters, oldest first (keyset: created_at, rule_id), and the total."""
    query = _filtered(tenant, filters)
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    if after is not None:
        at, rule_id = after
        query = query.where(keyset.after(col(RuleRow.created_at), col(RuleRow.rule_id), at, rule_id))
    rows = await session.execute(query.order_by(col(RuleRow.created_at), col(RuleRow.rule_id)).limit(limit))
    return list(rows.scalars()), total


async def get_rule(session: AsyncSession, tenant: str, rule_id: str, *, for_update: bool = False) -> RuleRow | None:
    """A live rule of the tenant, or None (another tenant's rule is None too).

    `for_update` locks the row until the transaction ends (PostgreSQL; SQLite's write transactions already
    hold the database lock), so concurrent read-modify-writes queue instead of racing.
    """
    query = select(RuleRow).where(_live(tenant), col(RuleRow.rule_id) == rule_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def name_taken(session: AsyncSession, tenant: str, name: str, except_rule_id: str | None = None) -> bool:
    """Whether another live rule of the tenant has this name."""
    query = select(col(RuleRow.rule_id)).where(_live(tenant), col(RuleRow.name) == name)
    if except_rule_id is not None:
        query = query.where(col(RuleRow.rule_id) != except_rule_id)
    return (await session.execute(query.limit(1))).first() is not None


async def insert_rule(session: AsyncSession, row: RuleRow) -> None:
    """Insert a new rule row."""
    session.add(row)
    await session.flush()


async def update_rule(
    session: AsyncSession, tenant: str, rule_id: str, expected_version: int, values: dict[str, Any]
) -> bool:
    """Write `values` (which must bump `version`) only if the row is still at `expected_version`."""
    result = await session.execute(
        update(RuleRow)
        .where(_live(tenant), col(RuleRow.rule_id) == rule_id, col(RuleRow.version) == expected_version)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(cast(CursorResult[Any], result).rowcount)


async def count_simulation(session: AsyncSession, tenant: str, rule_id: str, now: datetime, basis: str) -> bool:
    """Count one simulation of a rule; does not change its version.

    `basis` fingerprints what was simulated (trigger, conditions, actions): the ">= N simulations" team policy
    counts only simulations of the rule as it is, so a different basis starts the count again.
    """
    same = col(RuleRow.simulation_basis) == basis
    result = await session.execute(
        update(RuleRow)
        .where(_live(tenant), col(RuleRow.rule_id) == rule_id)
        .values(
            simulation_count=col(RuleRow.simulation_count) + 1,
            last_simulated_at=now,
            basis_simulations=case((same, col(RuleRow.basis_simulations) + 1), else_=1),
            simulation_basis=basis,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(cast(CursorResult[Any], result).rowcount)


async def add_version(session: AsyncSession, row: RuleVersionRow) -> None:
    """Record one version of a rule."""
    session.add(row)
    await session.flush()


async def list_versions(
    session: AsyncSession, tenant: str, rule_id: str, limit: int, before_version: int | None
) -> tuple[list[RuleVersionRow], int]:
    """A rule's versions, newest first, and their count."""
    query = select(RuleVersionRow).where(col(RuleVersionRow.tenant) == tenant, col(RuleVersionRow.rule_id) == rule_id)
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    if before_version is not None:
        query = query.where(col(RuleVersionRow.version) < before_version)
    rows = await session.execute(query.order_by(col(RuleVersionRow.version).desc()).limit(limit))
    return list(rows.scalars()), total


async def all_rules(session: AsyncSession) -> list[RuleRow]:
    """Every rule row of every tenant, deleted ones included (for reconciling the rule bucket)."""
    return list((await session.execute(select(RuleRow))).scalars().all())


async def versions_by_key(
    session: AsyncSession, keys: Iterable[tuple[str, str, int]]
) -> dict[tuple[str, str, int], dict[str, Any]]:
    """The rule JSON of each (tenant, rule_id, version) that exists (the recorder renders annotations from it)."""
    wanted = set(keys)
    if not wanted:
        return {}
    ids = {rule_id for _, rule_id, _ in wanted}
    query = select(RuleVersionRow).where(col(RuleVersionRow.rule_id).in_(ids))
    query = query.where(col(RuleVersionRow.version).in_({version for _, _, version in wanted}))
    found = {}
    for row in (await session.execute(query)).scalars():
        key = (row.tenant, row.rule_id, row.version)
        if key in wanted:
            found[key] = row.rule
    return found
