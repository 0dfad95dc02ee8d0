"""The list shape of the API (`items`, `total`, `next_cursor`) and opaque keyset cursors."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Query

from services.gateway.rest.problems import invalid_field

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="page size (default 50, max 1000)")]
Cursor = Annotated[str | None, Query(max_length=512, description="`next_cursor` of the previous page")]


@dataclass
class Page:
    """One page of a list: the items, the total matching the filters, and the cursor of the next page."""

    items: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0
    next_cursor: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"items": self.items, "total": self.total, "next_cursor": self.next_cursor}


def encode_cursor(key: list[Any]) -> str:
    """An opaque cursor for a sort key (a list of JSON scalars)."""
    raw = json.dumps(key, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _bad_cursor() -> Exception:
    return invalid_field(("cursor",), "invalid cursor; pass the next_cursor of a previous page")


def decode_cursor(cursor: str, types: tuple[type, ...]) -> list[Any]:
    """The sort key a cursor stands for; a 422 naming `cursor` when it was not made by `encode_cursor`."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        raise _bad_cursor() from None
    if not isinstance(key, list) or len(key) != len(types):
        raise _bad_cursor()
    for value, kind in zip(key, types, strict=True):
        if not isinstance(value, kind) or isinstance(value, bool):
            raise _bad_cursor()
    return key


def time_cursor(at: datetime, ident: str) -> str:
    """A cursor for a (timestamp, id) sort key."""
    return encode_cursor([at.isoformat(), ident])


def decode_time_cursor(cursor: str) -> tuple[datetime, str]:
    """The (timestamp, id) sort key of a `time_cursor`; a 422 naming `cursor` otherwise."""
    text, ident = decode_cursor(cursor, (str, str))
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise _bad_cursor() from None
    return (at if at.tzinfo else at.replace(tzinfo=UTC)), ident
