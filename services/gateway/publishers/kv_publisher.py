"""One SQL -> KV publisher for every noun the gateway mirrors: rules, channels, polling targets and quotas.

SQL is the system of record; the other services read KV buckets. A `KvPublisher` writes a changed row into its
bucket (the routes call it after their commit and before the response), and while started it reconciles the
bucket from SQL at start and every interval: it puts what is missing or stale and deletes the keys of rows SQL
no longer holds live (soft-deleted rows), so a change whose write failed (NATS down at that moment) is repaired
within one interval. Keys are read one by one, never listed: `keys()` is slow and hangs on cancel.

What differs per noun (the query, the key, the encoding, how a write is done) is a `Mirrored` configuration.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from nats.js.client import JetStreamContext
from nats.js.errors import APIError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db.sql_engine import Database
from services.common.messages import codec
from services.gateway.nats.bus import GatewayBus

log = logging.getLogger(__name__)

RECONCILE_SECONDS = 30.0
PUBLISH_WAIT_SECONDS = 5.0
_CAS_TRIES = 5
_WRONG_LAST_SEQUENCE = (10071, 10164)

Row = TypeVar("Row")


class Mirrored(Generic[Row]):
    """What one noun needs to be mirrored. The defaults suit a versioned entry: a JSON object whose `version` is
    the row's, written with a plain put and deleted when the row is; a noun overrides what it does otherwise."""

    bucket: str  # the KV bucket mirrored into
    what: str  # for task names and log lines: "channel", "polling target"

    async def rows(self, session: AsyncSession) -> Sequence[Row]:
        """Every row to mirror, deleted ones included (their keys are removed)."""
        raise NotImplementedError

    def key(self, row: Row) -> str:
        raise NotImplementedError

    def live(self, row: Row) -> bool:
        """Whether the row's key should exist."""
        raise NotImplementedError

    def version(self, row: Row) -> int:
        raise NotImplementedError

    def entry(self, row: Row) -> bytes:
        """The encoded entry of a live row."""
        raise NotImplementedError

    async def prepare(self, db: Database) -> None:
        """Run once when the publisher starts, before the first reconciliation."""

    async def stale(self, kv: KeyValue, row: Row, first_pass: bool) -> bool:
        """Whether the bucket differs from the row: a live row's entry is missing or of another version, or a
        deleted row's key is still there."""
        stored = await stored_value(kv, self.key(row))
        if not self.live(row):
            return stored is not None
        return version_of(stored) != self.version(row)

    async def put(self, js: JetStreamContext, kv: KeyValue, row: Row, previous: Row | None) -> None:
        """Write a live row (`previous`: the row before this change, when the caller knows it)."""
        await kv.put(self.key(row), self.entry(row))

    async def drop(self, js: JetStreamContext, kv: KeyValue, row: Row) -> None:
        """Remove a deleted row's key."""
        with contextlib.suppress(KeyNotFoundError):
            await kv.delete(self.key(row))


class SoftDeleted(Protocol):
    """A row with a version that a delete marks (`deleted_at`) rather than removes."""

    @property
    def version(self) -> int: ...

    @property
    def deleted_at(self) -> datetime | None: ...


Versioned = TypeVar("Versioned", bound=SoftDeleted)


class SoftDeletedRows(Mirrored[Versioned]):
    """Rules, channels and polling targets: a row's key exists while it is not deleted, its entry has its version."""

    def live(self, row: Versioned) -> bool:
        return row.deleted_at is None

    def version(self, row: Versioned) -> int:
        return row.version


class KvPublisher(Generic[Row]):
    """Publishes one noun's changed rows and reconciles its bucket; a gateway component (reconciling while started)."""

    def __init__(self, bus: GatewayBus, db: Database, noun: Mirrored[Row], interval: float = RECONCILE_SECONDS) -> None:
        self.bus = bus
        self.db = db
        self.noun = noun
        self.interval = interval
        self._first_pass = True
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.noun.prepare(self.db)
        self._stop.clear()
        name = f"{self.noun.what.replace(' ', '-')}-reconciler"
        self._task = asyncio.create_task(self.keep_reconciled(self._stop), name=name)

    async def stop(self) -> None:
        # Stopped by the event, never cancelled: cancelling an aiosqlite call mid-flight can hang the shutdown.
        self._stop.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def bucket(self) -> KeyValue:
        """The noun's bucket; just after start-up it waits for NATS a little, then a 503 problem."""
        with contextlib.suppress(TimeoutError):
            await self.bus.wait_ready(timeout=PUBLISH_WAIT_SECONDS)
        return await self.bus.js.key_value(self.noun.bucket)

    async def publish(self, row: Row, previous: Row | None = None) -> None:
        """Mirror a committed change: put a live row, remove a deleted one."""
        await self._write(await self.bucket(), row, previous)

    async def reconcile(self) -> int:
        """Bring the bucket in line with SQL; return how many rows needed a fix."""
        await self.bus.wait_ready()
        kv = await self.bus.js.key_value(self.noun.bucket)
        async with self.db.read() as session:
            rows = await self.noun.rows(session)
        fixed, first_pass = 0, self._first_pass
        for row in rows:
            if await self.noun.stale(kv, row, first_pass):
                await self._write(kv, row, None)
                fixed += 1
        self._first_pass = False
        if fixed:
            log.info("reconciled %d %s(s) from SQL into the %s bucket", fixed, self.noun.what, self.noun.bucket)
        return fixed

    async def keep_reconciled(self, stop: asyncio.Event) -> None:
        """Reconcile at start and then every interval until `stop` is set."""
        while not stop.is_set():
            try:
                if self.bus.is_ready:
                    await self.reconcile()
            except Exception as exc:
                log.warning("%s reconciliation failed: %s", self.noun.what, type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval if self.bus.is_ready else 0.2)

    async def _write(self, kv: KeyValue, row: Row, previous: Row | None) -> None:
        if self.noun.live(row):
            await self.noun.put(self.bus.js, kv, row, previous)
        else:
            await self.noun.drop(self.bus.js, kv, row)


async def stored_value(kv: KeyValue, key: str) -> bytes | None:
    """The value the bucket holds under a key; None when there is none (or only a delete marker)."""
    try:
        entry = await kv.get(key)
    except KeyNotFoundError:
        return None
    return entry.value or None


def version_of(value: bytes | None) -> int | None:
    """The `version` of a JSON entry; None for no entry or one without a readable version."""
    try:
        return int(codec.loads(value or b"null")["version"])
    except (KeyError, TypeError, ValueError):
        return None


async def put_newer(
    js: JetStreamContext,
    kv: KeyValue,
    bucket: str,
    key: str,
    entry: bytes,
    version: int,
    *,
    same_too: bool,
    rollup: bool,
) -> None:
    """Write a versioned entry unless the bucket already holds a newer one (two writers may publish out of order).

    `same_too` writes the same version again (a re-sealed entry); `rollup` makes the write the key's only revision
    (`Nats-Rollup: sub`), so no older revision keeps what this one replaced.
    """
    for _ in range(_CAS_TRIES):
        try:
            current = await kv.get(key)
        except KeyNotFoundError:
            current = None
        try:
            if current is None or not current.value:
                await _put(js, bucket, key, entry, rollup)
                return
            stored = version_of(current.value) or 0
            if stored > version or (stored == version and not same_too):
                return
            await _put(js, bucket, key, entry, rollup, last=current.revision)
            return
        except KeyWrongLastSequenceError:
            continue  # another writer got in between: read again
    await _put(js, bucket, key, entry, rollup)


async def _put(
    js: JetStreamContext, bucket: str, key: str, value: bytes, rollup: bool, last: int | None = None
) -> None:
    """Put the value, if `last` is still the key's latest revision (KeyWrongLastSequenceError otherwise)."""
    headers = {"Nats-Rollup": "sub"} if rollup else {}
    if last is not None:
        headers["Nats-Expected-Last-Subject-Sequence"] = str(last)
    try:
        await js.publish(f"$KV.{bucket}.{key}", value, headers=headers or None)
    except APIError as exc:
        if exc.err_code in _WRONG_LAST_SEQUENCE:
            raise KeyWrongLastSequenceError(description=exc.description) from None
        raise
