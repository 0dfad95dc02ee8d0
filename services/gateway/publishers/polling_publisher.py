"""Polling-target distribution: every committed target change is mirrored into the `cep-polling` KV bucket.

The scheduler replicas watch the bucket; the leader polls what it holds. Like channels, the routes mirror after
the commit and before the response, and `keep_reconciled` repairs the bucket from SQL (the system of record) at
start and periodically, so a change whose mirror write failed (NATS down at that moment) is fixed within one
interval. Deleting a target also removes its latest snapshot.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from services.common.db.tables import PollingTargetRow
from services.common.messages import codec
from services.common.nats import subjects
from services.gateway.publishers.kv_publisher import KvPublisher
from services.gateway.store import polling as store

log = logging.getLogger(__name__)

_CAS_TRIES = 5


def entry_of(row: PollingTargetRow) -> dict[str, Any]:
    """The bucket entry of a target: its spec with the identity and version the scheduler needs."""
    return {**row.spec, "tenant": row.tenant, "target_id": row.target_id, "version": row.version}


class PollingPublisher(KvPublisher):
    """Mirrors target rows into the bucket; a gateway component (its reconcile loop runs while started)."""

    bucket = subjects.POLLING_BUCKET
    what = "polling target"

    async def publish(self, row: PollingTargetRow) -> None:
        """Mirror a created or changed target (a deleted one is removed)."""
        if row.deleted_at is not None:
            await self.remove(row)
            return
        kv = await self._bucket()
        await _put_newer(kv, subjects.polling_key(row.tenant, row.target_id), entry_of(row))

    async def remove(self, row: PollingTargetRow) -> None:
        """Remove a deleted target's key and its latest snapshot."""
        key = subjects.polling_key(row.tenant, row.target_id)
        for bucket in (subjects.POLLING_BUCKET, subjects.POLLING_SNAPSHOTS_BUCKET):
            kv = await self._bucket(bucket)
            with contextlib.suppress(KeyNotFoundError):
                await kv.delete(key)

    async def reconcile(self) -> int:
        """Bring the bucket in line with SQL; return how many targets needed a fix."""
        await self.bus.wait_ready()
        kv = await self.bus.js.key_value(subjects.POLLING_BUCKET)
        async with self.db.read() as session:
            rows = await store.all_targets(session)
        fixed = 0
        for row in rows:
            stored = await _stored_version(kv, subjects.polling_key(row.tenant, row.target_id))
            live = row.deleted_at is None
            if (live and stored != row.version) or (not live and stored is not None):
                await self.publish(row)
                fixed += 1
        if fixed:
            log.info("reconciled %d polling target(s) from SQL into the polling bucket", fixed)
        return fixed


def _version(value: bytes | None) -> int | None:
    try:
        return int(codec.loads(value or b"null")["version"])
    except (KeyError, TypeError, ValueError):
        return None


async def _stored_version(kv: KeyValue, key: str) -> int | None:
    try:
        entry = await kv.get(key)
    except KeyNotFoundError:
        return None
    return _version(entry.value)


async def _put_newer(kv: KeyValue, key: str, entry: dict[str, Any]) -> None:
    """Write the entry unless the bucket already holds a newer version (two writers may publish out of order)."""
    value = codec.dumps(entry)
    for _ in range(_CAS_TRIES):
        try:
            current = await kv.get(key)
        except KeyNotFoundError:
            current = None
        try:
            if current is None or not current.value:
                await kv.put(key, value)
            elif (_version(current.value) or 0) >= entry["version"]:
                return
            else:
                assert current.revision is not None
                await kv.update(key, value, last=current.revision)
            return
        except KeyWrongLastSequenceError:
            continue  # another writer got in between: read again
    await kv.put(key, value)
