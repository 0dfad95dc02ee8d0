"""UTC-aware datetimes round-trip unchanged on SQLite and PostgreSQL; naive ones are refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.exc import StatementError

from services.common.db.sql_engine import open_database
from services.common.db.tables import TenantRow

SEOUL = timezone(timedelta(hours=9))


@pytest.mark.parametrize(
    ("written", "read"),
    [
        (datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC), datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)),
        (datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC), datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)),
        (datetime(2025, 3, 1, 21, 0, 0, tzinfo=SEOUL), datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)),
        (datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC), datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC)),
    ],
)
async def test_datetimes_come_back_aware_and_in_utc(db_url: str, written: datetime, read: datetime) -> None:
    db = open_database(db_url)
    try:
        async with db.write() as session:
            session.add(TenantRow(name="t1", created_at=written))
        async with db.read() as session:
            got = (await session.execute(select(TenantRow.created_at))).scalar_one()
    finally:
        await db.dispose()
    assert got == read
    assert got.utcoffset() == timedelta(0)
    assert got.tzinfo is not None


async def test_datetime_comparisons_work_in_sql(db_url: str) -> None:
    db = open_database(db_url)
    try:
        async with db.write() as session:
            for i in range(3):
                session.add(TenantRow(name=f"t{i}", created_at=datetime(2025, 1, 1, i, tzinfo=UTC)))
        async with db.read() as session:
            since = datetime(2025, 1, 1, 10, tzinfo=SEOUL)  # = 01:00 UTC
            names = (await session.execute(select(TenantRow.name).where(TenantRow.created_at >= since))).scalars()
            assert sorted(names) == ["t1", "t2"]
    finally:
        await db.dispose()


async def test_naive_datetimes_are_refused(db_url: str) -> None:
    db = open_database(db_url)
    try:
        with pytest.raises(StatementError, match="naive datetime"):
            async with db.write() as session:
                session.add(TenantRow(name="t", created_at=datetime(2025, 1, 1)))
    finally:
        await db.dispose()
