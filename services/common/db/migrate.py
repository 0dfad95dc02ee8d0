"""Schema migrations at start-up: `upgrade(url)` brings any database to the newest Alembic revision."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from services.common.db.sql_engine import create_blocking_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any fixed 64-bit number: replicas starting together take turns instead of racing the same DDL.
_PG_MIGRATION_LOCK = 7_265_414_771


def alembic_config() -> Config:
    """The Alembic configuration of this project (no ini file needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at `url` (`sqlite:///...` or `postgresql://...`) to `revision`.

    Blocking (it uses the synchronous drivers), so it works the same from a script and from async code;
    async callers that must not stall their loop use `upgrade_async`.
    """
    engine = create_blocking_engine(url)
    try:
        with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
                connection.commit()
            try:
                config = alembic_config()
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
                connection.commit()
            finally:
                if connection.dialect.name == "postgresql":
                    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _PG_MIGRATION_LOCK})
                    connection.commit()
    finally:
        engine.dispose()


async def upgrade_async(url: str, revision: str = "head") -> None:
    """`upgrade` in a worker thread, for event-loop code (the gateway's lifespan)."""
    await asyncio.to_thread(upgrade, url, revision)


def current_revision(url: str) -> str | None:
    """The revision the database is at, or None for an empty database."""
    engine = create_blocking_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str | None:
    """The newest revision shipped with the code."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
