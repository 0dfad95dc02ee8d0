"""The SQL engine factory from a database URL: async drivers, SQLite pragmas, and write transactions that lock early."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, text
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

SQLITE_BUSY_TIMEOUT_MS = 10_000
_WRITE_OPTION = "cep_write"  # execution option marking a connection whose transactions will write

_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg"}
_SYNC_DRIVERS = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg"}


def async_url(url: str) -> str:
    """`sqlite:///path` -> `sqlite+aiosqlite:///path`, `postgresql://...` -> `postgresql+psycopg://...`."""
    return _with_driver(url, _ASYNC_DRIVERS)


def sync_url(url: str) -> str:
    """The same database through a blocking driver (migrations): `sqlite`, `postgresql+psycopg`."""
    return _with_driver(url, _SYNC_DRIVERS)


def _with_driver(url: str, drivers: dict[str, str]) -> str:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in drivers:
        raise ValueError(f"unsupported database URL scheme {parsed.drivername!r}: use sqlite:/// or postgresql://")
    return parsed.set(drivername=drivers[backend]).render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    """Whether a URL names a SQLite database."""
    return make_url(url).get_backend_name() == "sqlite"


def _ensure_sqlite_dir(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _install_sqlite_hooks(engine: Engine) -> None:
    """WAL, busy_timeout and foreign keys on every connection; `BEGIN IMMEDIATE` for write transactions.

    pysqlite/aiosqlite open transactions lazily and never as IMMEDIATE; a read-modify-write that starts
    deferred can fail with SQLITE_BUSY on upgrade instead of waiting. So the driver's own transaction
    handling is switched off and SQLAlchemy's `begin` emits the right BEGIN itself.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine for `sqlite:///...` or `postgresql://...` with the pragmas and hooks this project needs."""
    if is_sqlite(url):
        _ensure_sqlite_dir(url)
    engine = create_async_engine(async_url(url), pool_pre_ping=not is_sqlite(url), **kwargs)
    if is_sqlite(url):
        _install_sqlite_hooks(engine.sync_engine)
    return engine


def create_blocking_engine(url: str, **kwargs: Any) -> Engine:
    """A blocking engine for the same URL (Alembic), with the same SQLite hooks."""
    if is_sqlite(url):
        _ensure_sqlite_dir(url)
    engine = create_sync_engine(sync_url(url), **kwargs)
    if is_sqlite(url):
        _install_sqlite_hooks(engine)
    return engine


@dataclass
class Database:
    """An engine with two session factories: reads, and writes (which lock at BEGIN on SQLite)."""

    engine: AsyncEngine
    reads: async_sessionmaker[AsyncSession]
    writes: async_sessionmaker[AsyncSession]

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for queries; its transaction is rolled back on exit."""
        async with self.reads() as session:
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session in one write transaction, committed on a clean exit and rolled back on an exception."""
        async with self.writes() as session, session.begin():
            yield session

    async def ping(self) -> None:
        """Run `SELECT 1` (the readiness check)."""
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()


def open_database(url: str, **kwargs: Any) -> Database:
    """Build the engine and both session factories for a URL (no I/O happens until first use)."""
    engine = create_engine(url, **kwargs)
    writer = engine.execution_options(**{_WRITE_OPTION: True})
    return Database(
        engine=engine,
        reads=async_sessionmaker(engine, expire_on_commit=False),
        writes=async_sessionmaker(writer, expire_on_commit=False),
    )
