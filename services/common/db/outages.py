"""Which database errors mean the database is unavailable for now (retry later), as opposed to a bug or a conflict."""

from __future__ import annotations

from sqlalchemy import exc as sa

# SQLite result codes of an unavailable database (locked past the busy timeout, unreadable, full); every other
# SQLite OperationalError ("no such table", a syntax error) is a bug in a query.
_SQLITE_UNAVAILABLE = (
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_CANTOPEN",
    "SQLITE_IOERR",
    "SQLITE_FULL",
    "SQLITE_PROTOCOL",
)
# PostgreSQL SQLSTATEs of an unavailable server: connection exceptions, insufficient resources, operator
# intervention (shutting down, cannot connect now, a statement timeout), system errors, a lock not available.
# psycopg calls more than these OperationalError: "program limit exceeded" (54xxx, an index row too large) is
# a bug or bad input, and retrying cannot help.
_POSTGRES_UNAVAILABLE = ("08", "53", "57", "58", "55P03")


def outage_reason(error: BaseException) -> str | None:
    """Why `error` means the database is unavailable right now, or None when it does not (a bug, a conflict).

    Unavailable: the pool had no free connection in time, a connection failed or was lost (PostgreSQL down,
    restarting, unreachable), or SQLite stayed busy or could not open its file. Integrity errors, syntax errors
    and missing tables are never outages: retrying them cannot help.
    """
    if isinstance(error, sa.TimeoutError):
        return "no database connection was free in time (the pool is exhausted)"
    if isinstance(error, sa.DisconnectionError):
        return "the database cannot be reached (connection failed or lost)"
    if not isinstance(error, sa.DBAPIError) or isinstance(error, sa.IntegrityError):
        return None
    name = getattr(error.orig, "sqlite_errorname", None)
    if isinstance(name, str):
        return f"the database is busy or cannot be opened ({name})" if name.startswith(_SQLITE_UNAVAILABLE) else None
    state = getattr(error.orig, "sqlstate", None)
    if isinstance(state, str):  # the server answered, with an error code
        return f"the database is unavailable ({state})" if state.startswith(_POSTGRES_UNAVAILABLE) else None
    if error.connection_invalidated or isinstance(error, sa.OperationalError | sa.InterfaceError):
        return "the database cannot be reached (connection failed or lost)"
    return None
