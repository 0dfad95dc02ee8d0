"""Where each schedule rule stands, kept in the scheduler's KV bucket: read at a term's start, written per run.

A cursor is written with compare-and-set; when another leader wrote it since it was read, its revision (and its
newer time, if any) is adopted instead.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from services.common.domain.events.model import format_time, parse_time
from services.common.messages import codec
from services.common.nats import subjects
from services.common.nats.kv_listing import held_entries
from services.scheduler.schedule_rules import RuleKey

CURSOR_WRITES = 64  # cursor writes in flight at once


@dataclass
class Cursor:
    """Where a rule's schedule stands: the newest scheduled time dealt with, for which rule version."""

    last: datetime | None = None
    version: int | None = None
    revision: int | None = None  # of the cursor key, for compare-and-set (None: no key yet)


async def read_cursors(state: KeyValue) -> dict[RuleKey, Cursor]:
    """Every rule's cursor in the bucket, with its revision."""
    cursors: dict[RuleKey, Cursor] = {}
    for entry in await held_entries(state, "cursor.>"):
        _, tenant, rule_id = entry.key.split(".", 2)
        cursor = _cursor_of(entry.value)
        if cursor is not None:
            cursor.revision = entry.revision
            cursors[(tenant, rule_id)] = cursor
    return cursors


async def write_cursors(state: KeyValue, items: list[tuple[RuleKey, Cursor]], fencing: int) -> None:
    """Write the cursors, at most CURSOR_WRITES at once."""
    limit = asyncio.Semaphore(CURSOR_WRITES)

    async def write(key: RuleKey, cursor: Cursor) -> None:
        async with limit:
            await write_cursor(state, key, cursor, fencing)

    await asyncio.gather(*(write(k, c) for k, c in items))


async def write_cursor(state: KeyValue, rule: RuleKey, cursor: Cursor, fencing: int) -> None:
    """Compare-and-set one cursor; on a conflict, adopt the stored revision and its newer time."""
    key = subjects.scheduler_cursor_key(*rule)
    assert cursor.last is not None
    value = codec.dumps({"last": format_time(cursor.last), "version": cursor.version, "fencing": fencing})
    try:
        if cursor.revision is None:
            cursor.revision = await state.create(key, value)
        else:
            cursor.revision = await state.update(key, value, last=cursor.revision)
    except KeyWrongLastSequenceError:
        # Written by someone else since we read it: adopt its revision (and its newer time, if any).
        with contextlib.suppress(KeyNotFoundError):
            entry = await state.get(key)
            cursor.revision = entry.revision
            theirs = _cursor_of(entry.value)
            if theirs is not None and theirs.last is not None and theirs.last > cursor.last:
                cursor.last = theirs.last


def _cursor_of(value: bytes | None) -> Cursor | None:
    try:
        body = codec.loads(value or b"null")
        return Cursor(parse_time(body["last"]), int(body["version"]))
    except (KeyError, TypeError, ValueError):
        return None
