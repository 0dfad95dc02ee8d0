"""SQL access for schedule runs: idempotent recording (duplicates counted), the runs list and the status figures."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.common.db.tables import ScheduleRunRow
from services.common.domain.schedules.cron import is_late, percentile
from services.common.messages.schedule import RunRecord

FIGURE_ROWS = 100_000  # the status figures read at most this many of the newest runs


@dataclass(frozen=True)
class Recorded:
    """What a batch did: rows stored, and records that were a second copy of a stored run (from another leader)."""

    stored: int
    duplicates: int
    repeats: int  # the same record again (a redelivery): nothing to count


async def record_runs(session: AsyncSession, records: list[RunRecord], now: datetime) -> Recorded:
    """Store each run once per (tenant, rule, scheduled_at); a copy from another term bumps `duplicates`."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stored = duplicates = repeats = 0
    for record in records:
        values = _row_values(record, now)
        statement = (
            insert(ScheduleRunRow)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["tenant", "rule_id", "scheduled_at"])
        )
        result = await session.execute(statement)
        if getattr(result, "rowcount", 0) == 1:
            stored += 1
            continue
        key = _key(record.tenant, record.rule_id, record.scheduled_at)
        existing = (await session.execute(select(ScheduleRunRow).where(key))).scalar_one()
        if (existing.fencing, existing.instance) == (record.fencing, record.instance):
            repeats += 1
            continue
        await session.execute(update(ScheduleRunRow).where(key).values(duplicates=col(ScheduleRunRow.duplicates) + 1))
        duplicates += 1
    return Recorded(stored, duplicates, repeats)


def _row_values(record: RunRecord, now: datetime) -> dict[str, Any]:
    return {
        "tenant": record.tenant,
        "rule_id": record.rule_id,
        "rule_version": record.rule_version,
        "scheduled_at": record.scheduled_at,
        "status": record.status,
        "started_at": record.started_at,
        "delay_ms": record.delay_ms,
        "instance": record.instance,
        "fencing": record.fencing,
        "recorded_at": now,
        "duplicates": 0,
    }


def _key(tenant: str, rule_id: str, scheduled_at: datetime) -> ColumnElement[bool]:
    return and_(
        col(ScheduleRunRow.tenant) == tenant,
        col(ScheduleRunRow.rule_id) == rule_id,
        col(ScheduleRunRow.scheduled_at) == scheduled_at,
    )


@dataclass(frozen=True)
class RunFilter:
    """Filters of the runs list and the status figures."""

    rule_id: str | None = None
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def where(self, tenant: str) -> ColumnElement[bool]:
        clauses: list[ColumnElement[bool]] = [col(ScheduleRunRow.tenant) == tenant]
        if self.rule_id is not None:
            clauses.append(col(ScheduleRunRow.rule_id) == self.rule_id)
        if self.status is not None:
            clauses.append(col(ScheduleRunRow.status) == self.status)
        if self.since is not None:
            clauses.append(col(ScheduleRunRow.scheduled_at) >= self.since)
        if self.until is not None:
            clauses.append(col(ScheduleRunRow.scheduled_at) <= self.until)
        return and_(*clauses)


async def list_runs(
    session: AsyncSession, tenant: str, filters: RunFilter, limit: int, before: tuple[datetime, str] | None
) -> tuple[list[ScheduleRunRow], int]:
    """The tenant's runs, newest scheduled time first (keyset: scheduled_at, rule_id descending), and the total."""
    query = select(ScheduleRunRow).where(filters.where(tenant))
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    if before is not None:
        at, rule_id = before
        scheduled, rule = col(ScheduleRunRow.scheduled_at), col(ScheduleRunRow.rule_id)
        query = query.where(or_(scheduled < at, and_(scheduled == at, rule < rule_id)))
    order = (col(ScheduleRunRow.scheduled_at).desc(), col(ScheduleRunRow.rule_id).desc())
    rows = await session.execute(query.order_by(*order).limit(limit))
    return list(rows.scalars()), total


@dataclass
class Figures:
    """The status figures of a set of runs."""

    runs: int = 0
    missed_runs: int = 0
    late_runs: int = 0
    caught_up_runs: int = 0
    duplicate_runs: int = 0
    p50: float | None = None
    p99: float | None = None
    max_delay: float | None = None
    runs_by_instance: dict[str, int] = field(default_factory=dict)
    last_run_at: datetime | None = None


async def figures(session: AsyncSession, tenant: str, filters: RunFilter, late_after_ms: float) -> Figures:
    """Counts, late runs and delay percentiles of the tenant's runs matching the filters (newest FIGURE_ROWS)."""
    columns = (
        col(ScheduleRunRow.status),
        col(ScheduleRunRow.delay_ms),
        col(ScheduleRunRow.instance),
        col(ScheduleRunRow.duplicates),
        col(ScheduleRunRow.started_at),
    )
    query = (
        select(*columns)
        .where(filters.where(tenant))
        .order_by(col(ScheduleRunRow.scheduled_at).desc())
        .limit(FIGURE_ROWS)
    )
    out = Figures()
    delays: list[float] = []
    by_instance: Counter[str] = Counter()
    for status, delay, instance, duplicates, started in (await session.execute(query)).all():
        out.duplicate_runs += duplicates
        if status == "missed":
            out.missed_runs += 1
            continue
        out.runs += 1
        out.caught_up_runs += status == "caught_up"
        by_instance[instance] += 1
        if delay is not None:
            delays.append(delay)
            out.late_runs += is_late(delay, late_after_ms)
        if started is not None and (out.last_run_at is None or started > out.last_run_at):
            out.last_run_at = started
    out.p50, out.p99 = percentile(delays, 50), percentile(delays, 99)
    out.max_delay = max(delays) if delays else None
    out.runs_by_instance = dict(by_instance)
    return out
