"""Alembic environment: migrates the connection migrate.py passes in, or CEP_DATABASE_URL from the CLI."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import services.common.db.tables  # noqa: F401  (registers every table on the metadata)
from services.common.db.sql_engine import create_blocking_engine

target_metadata = SQLModel.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things in place
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Use the caller's connection when given (migrate.upgrade, tests), else open one from the URL."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url") or os.environ.get("CEP_DATABASE_URL")
    if not url:
        raise SystemExit("set CEP_DATABASE_URL (sqlite:///path or postgresql://...) to run migrations")
    engine = create_blocking_engine(url)
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run them against a database")
run_online()
