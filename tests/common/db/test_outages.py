"""Which database errors mean "unavailable, retry later" and which are bugs: real errors from real engines."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine

from services.common.cli.procs import free_port
from services.common.db.outages import outage_reason
from services.common.db.sql_engine import create_engine


async def raised(statement: str, url: str, **engine_options: object) -> SQLAlchemyError:
    engine = create_engine(url, **engine_options)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(statement))
    except SQLAlchemyError as exc:
        return exc
    finally:
        await engine.dispose()
    raise AssertionError(f"{statement!r} did not fail")


async def test_a_server_that_does_not_answer_is_an_outage() -> None:
    exc = await raised("SELECT 1", f"postgresql://postgres@127.0.0.1:{free_port()}/test", connect_args={})
    assert outage_reason(exc) == "the database cannot be reached (connection failed or lost)"


async def test_a_pool_without_a_free_connection_is_an_outage(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'pool.db'}", pool_size=1, max_overflow=0, pool_timeout=0.1)
    try:
        async with engine.connect() as held:
            await held.execute(text("SELECT 1"))
            with pytest.raises(SQLAlchemyError) as caught:
                async with engine.connect() as second:
                    await second.execute(text("SELECT 1"))
    finally:
        await engine.dispose()
    assert outage_reason(caught.value) == "no database connection was free in time (the pool is exhausted)"


async def test_a_locked_sqlite_database_is_an_outage(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (n INTEGER)")
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock past our busy timeout
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}", connect_args={"timeout": 0.05})
    try:
        async with engine.begin() as connection:
            with pytest.raises(DBAPIError) as caught:
                await connection.execute(text("INSERT INTO t VALUES (1)"))
    finally:
        await engine.dispose()
        holder.close()
    assert outage_reason(caught.value) == "the database is busy or cannot be opened (SQLITE_BUSY)"


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM no_such_table",  # SQLite calls this an OperationalError; it is a bug, not an outage
        "SELEC 1",
        "INSERT INTO t VALUES (1)",  # a duplicate key: a bug or a 409, never a retry
    ],
)
async def test_bugs_and_conflicts_are_not_outages(tmp_path: Path, statement: str) -> None:
    url = f"sqlite:///{tmp_path / 'bugs.db'}"
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE t (n INTEGER PRIMARY KEY)"))
        await connection.execute(text("INSERT INTO t VALUES (1)"))
    await engine.dispose()
    assert outage_reason(await raised(statement, url)) is None


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("SET LOCAL statement_timeout = 10; SELECT pg_sleep(1)", "the database is unavailable (57014)"),
        ("SELECT '{{{{{{{1}}}}}}}'::int[]", None),  # "program limit exceeded" (54000): psycopg's OperationalError
        ("SELECT * FROM no_such_table", None),
        ("SELECT 1/0", None),
    ],
)
async def test_postgres_errors_by_their_sqlstate(pg_url: str, statement: str, expected: str | None) -> None:
    assert outage_reason(await raised(statement, pg_url)) == expected
