"""Database fixtures shared by storage tests: every one runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.common.db.migrate import upgrade
from tests.common.db.postgres import fresh_database, truncate, unavailable_reason


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A migrated PostgreSQL database for this session (skips when no server answers)."""
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    with fresh_database() as url:
        upgrade(url)
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database URL: SQLite in a temp dir, or the session's PostgreSQL database emptied."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'cep.db'}"
        upgrade(url)
        return url
    url = request.getfixturevalue("pg_url")
    truncate(url)
    return url
