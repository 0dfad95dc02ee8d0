"""A throwaway PostgreSQL database per test session (skipped with a reason when no server answers)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy.engine import make_url

# The server the project's tests use; CEP_TEST_POSTGRES_URL points them elsewhere.
SERVER_URL = os.environ.get("CEP_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
TABLES = ("transitions", "events", "channels", "audit_log", "rule_versions", "rules", "tokens", "tenants")


def unavailable_reason() -> str | None:
    """Why PostgreSQL tests cannot run here, or None when the server answers."""
    try:
        with psycopg.connect(SERVER_URL, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"no PostgreSQL server at {SERVER_URL} ({type(exc).__name__}); set CEP_TEST_POSTGRES_URL"


@contextmanager
def fresh_database() -> Iterator[str]:
    """Create `cep_test_<random>` on the server, yield its URL, and drop it afterwards."""
    name = f"cep_test_{secrets.token_hex(6)}"
    with psycopg.connect(SERVER_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(SERVER_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(SERVER_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def truncate(url: str) -> None:
    """Empty every table of the schema (between tests sharing one database)."""
    with psycopg.connect(url, autocommit=True) as connection:
        present = {row[0] for row in connection.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        names = [t for t in TABLES if t in present]
        if names:
            connection.execute(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE")
