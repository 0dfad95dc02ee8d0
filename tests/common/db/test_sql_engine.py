"""The engine factory: URL driver mapping, SQLite pragmas, and write transactions that lock at BEGIN."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from services.common.db.sql_engine import SQLITE_BUSY_TIMEOUT_MS, async_url, is_sqlite, open_database, sync_url


@pytest.mark.parametrize(
    ("url", "async_form", "sync_form"),
    [
        ("sqlite:///.cep/cep.db", "sqlite+aiosqlite:///.cep/cep.db", "sqlite:///.cep/cep.db"),
        ("sqlite:////tmp/x/cep.db", "sqlite+aiosqlite:////tmp/x/cep.db", "sqlite:////tmp/x/cep.db"),
        ("postgresql://u:p@h:5432/db", "postgresql+psycopg://u:p@h:5432/db", "postgresql+psycopg://u:p@h:5432/db"),
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
    ],
)
def test_urls_get_the_project_drivers(url: str, async_form: str, sync_form: str) -> None:
    assert async_url(url) == async_form
    assert sync_url(url) == sync_form


@pytest.mark.parametrize("url", ["mysql://u@h/db", "oracle://x", "redis://h"])
def test_other_databases_are_refused_by_name(url: str) -> None:
    with pytest.raises(ValueError, match="unsupported database URL scheme"):
        async_url(url)


def test_is_sqlite() -> None:
    assert is_sqlite("sqlite:///a.db")
    assert not is_sqlite("postgresql://h/db")


async def test_sqlite_connections_get_wal_busy_timeout_and_foreign_keys(tmp_path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'nested' / 'cep.db'}")  # the folder is created on demand
    try:
        async with db.engine.connect() as connection:
            pragmas = {
                name: (await connection.execute(text(f"PRAGMA {name}"))).scalar_one()
                for name in ("journal_mode", "busy_timeout", "foreign_keys")
            }
    finally:
        await db.dispose()
    assert pragmas == {"journal_mode": "wal", "busy_timeout": SQLITE_BUSY_TIMEOUT_MS, "foreign_keys": 1}


async def test_sqlite_write_transactions_serialise_instead_of_failing(tmp_path) -> None:
    # Two read-modify-write transactions on one counter: BEGIN IMMEDIATE makes the second wait, so no update
    # is lost and neither fails with "database is locked" when upgrading its lock.
    db = open_database(f"sqlite:///{tmp_path / 'cep.db'}")
    try:
        async with db.write() as session:
            await session.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
            await session.execute(text("INSERT INTO counter VALUES (0)"))

        async def bump() -> None:
            async with db.write() as session:
                n = (await session.execute(text("SELECT n FROM counter"))).scalar_one()
                await asyncio.sleep(0.01)
                await session.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})

        await asyncio.gather(*(bump() for _ in range(8)))
        async with db.read() as session:
            assert (await session.execute(text("SELECT n FROM counter"))).scalar_one() == 8
    finally:
        await db.dispose()


async def test_ping_answers_on_both_databases(db_url: str) -> None:
    db = open_database(db_url)
    try:
        await db.ping()
    finally:
        await db.dispose()
