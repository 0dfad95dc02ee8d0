"""SQL that SQLite and PostgreSQL spell differently: days of a timestamp, seconds between two, JSON array elements.

Each helper takes the dialect name of the session (`session.get_bind().dialect.name`) and returns an expression
that means the same on both databases; the stats queries and the event filters are written against these.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, ColumnElement, Float, FromClause, cast, column, func, literal_column
from sqlalchemy.ext.asyncio import AsyncSession


def dialect_of(session: AsyncSession) -> str:
    """`sqlite` or `postgresql`: which spelling the session's database needs."""
    return session.get_bind().dialect.name


def utc_day(at: Any, dialect: str) -> ColumnElement[str]:
    """The UTC calendar day of a timestamp column as `YYYY-MM-DD` text."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", at), "YYYY-MM-DD")
    return func.date(at)  # SQLite keeps naive UTC text: its date() is the UTC day


def seconds_between(start: Any, end: Any, dialect: str) -> ColumnElement[float]:
    """`end - start` in seconds (a float; NULL when either is NULL)."""
    if dialect == "postgresql":
        return cast(func.extract("epoch", end - start), Float)
    return (func.julianday(end) - func.julianday(start)) * literal_column("86400.0")


def json_elements(array: Any, dialect: str, name: str) -> FromClause:
    """The elements of a JSON array column as a table `name` with one JSON column `value` (one row per element).

    Used in FROM next to the table holding the column (both databases correlate a function in FROM with the
    tables before it), or in an EXISTS subquery.
    """
    function = func.jsonb_array_elements if dialect == "postgresql" else func.json_each
    return function(array).table_valued(column("value", JSON)).alias(name)


def element_text(elements: FromClause, key: str) -> ColumnElement[str]:
    """The text of member `key` of each element (NULL when absent or JSON null)."""
    value: Any = elements.c.value  # a JSON column: indexing and as_string() come from the JSON type
    text: ColumnElement[str] = value[key].as_string()
    return text
