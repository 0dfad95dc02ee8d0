"""Fixtures of the storage tests (see fixtures.py)."""

from tests.common.db.fixtures import db_url, pg_url  # noqa: F401
