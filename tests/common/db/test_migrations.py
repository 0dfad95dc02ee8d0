"""Alembic builds the same schema as the SQLModel tables, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

import services.common.db.tables  # noqa: F401  (registers the tables)
from services.common.db.migrate import current_revision, head_revision, upgrade, upgrade_async
from services.common.db.sql_engine import create_blocking_engine
from tests.common.db.postgres import fresh_database, unavailable_reason


def _pending_diff(url: str) -> list:
    engine = create_blocking_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, SQLModel.metadata))
    finally:
        engine.dispose()


def _check_upgrade_matches_metadata(url: str) -> None:
    assert current_revision(url) is None
    assert _pending_diff(url), "an empty database must differ from the metadata (the comparison works)"
    upgrade(url)
    assert current_revision(url) == head_revision()
    assert _pending_diff(url) == []
    upgrade(url)  # idempotent: running it again at start-up is a no-op
    assert current_revision(url) == head_revision()


def test_sqlite_upgrade_head_matches_the_tables(tmp_path: Path) -> None:
    _check_upgrade_matches_metadata(f"sqlite:///{tmp_path / 'cep.db'}")


@pytest.mark.postgres
def test_postgres_upgrade_head_matches_the_tables() -> None:
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    with fresh_database() as url:
        _check_upgrade_matches_metadata(url)


def test_upgrade_works_from_inside_a_running_event_loop(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cep.db'}"

    async def main() -> None:
        upgrade(url)  # blocking but legal inside a loop (no nested loop is started)
        await upgrade_async(url)

    asyncio.run(main())
    assert current_revision(url) == head_revision()
