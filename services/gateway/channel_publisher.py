"""Channel distribution: every committed channel change is mirrored into the `cep-channels` KV bucket.

Read-your-writes: the routes call `publish`/`remove` after the commit and before the response, and the notifier
reads the bucket at delivery time, so a delivery after the response uses the new config. Two keys per channel:
`<tenant>.<channel_id>` holds the channel with its secrets (never logged), `<tenant>.name.<name>` its id.
`keep_reconciled` repairs the bucket from SQL (the system of record) at start and periodically, so a change
whose mirror write failed (NATS down at that moment) is fixed within one interval.
"""

from __future__ import annotations

import contextlib
import logging

from nats.js.errors import APIError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from services.common import codec, subjects
from services.common.db.tables import ChannelRow
from services.gateway.bucket_mirror import BucketMirror
from services.gateway.store import channels as store

log = logging.getLogger(__name__)

_CAS_TRIES = 5


def entry_of(row: ChannelRow) -> codec.ChannelEntry:
    """The bucket entry of a channel row: public config and secrets together, for the notifier."""
    return codec.ChannelEntry(
        tenant=row.tenant,
        channel_id=row.channel_id,
        name=row.name,
        type=row.type,
        config={**row.config, **row.secrets},
        version=row.version,
    )


class ChannelPublisher(BucketMirror):
    """Mirrors channel rows into the bucket; a gateway component (its reconcile loop runs while started)."""

    bucket = subjects.CHANNELS_BUCKET
    what = "channel"

    async def publish(self, row: ChannelRow, previous_name: str | None = None) -> None:
        """Mirror a created or changed channel (and free its previous name's key after a rename)."""
        kv = await self._bucket()
        await _put_newer(kv, subjects.channel_key(row.tenant, row.channel_id), entry_of(row))
        await kv.put(subjects.channel_name_key(row.tenant, row.name), row.channel_id.encode())
        if previous_name is not None and previous_name != row.name:
            await _delete_if_points_to(kv, subjects.channel_name_key(row.tenant, previous_name), row.channel_id)

    async def remove(self, row: ChannelRow) -> None:
        """Remove a deleted channel's keys (its name key only if it still names this channel)."""
        kv = await self._bucket()
        with contextlib.suppress(KeyNotFoundError):
            await kv.delete(subjects.channel_key(row.tenant, row.channel_id))
        await _delete_if_points_to(kv, subjects.channel_name_key(row.tenant, row.name), row.channel_id)

    async def reconcile(self) -> int:
        """Bring the bucket in line with SQL; return how many channels needed a fix."""
        await self.bus.wait_ready()
        kv = await self.bus.js.key_value(subjects.CHANNELS_BUCKET)
        async with self.db.read() as session:
            rows = await store.all_channels(session)
        fixed = 0
        for row in rows:
            if await self._needs_fix(kv, row):
                await (self.publish(row) if row.deleted_at is None else self.remove(row))
                fixed += 1
        if fixed:
            log.info("reconciled %d channel(s) from SQL into the channels bucket", fixed)
        return fixed

    async def _needs_fix(self, kv: KeyValue, row: ChannelRow) -> bool:
        stored = await _stored_version(kv, subjects.channel_key(row.tenant, row.channel_id))
        named = await _value(kv, subjects.channel_name_key(row.tenant, row.name))
        if row.deleted_at is None:
            return stored != row.version or named != row.channel_id
        return stored is not None or named == row.channel_id


async def _value(kv: KeyValue, key: str) -> str | None:
    try:
        entry = await kv.get(key)
    except KeyNotFoundError:
        return None
    return entry.value.decode() if entry.value else None


async def _stored_version(kv: KeyValue, key: str) -> int | None:
    try:
        entry = await kv.get(key)
    except KeyNotFoundError:
        return None
    return codec.ChannelEntry.decode(entry.value).version if entry.value else None


async def _put_newer(kv: KeyValue, key: str, entry: codec.ChannelEntry) -> None:
    """Write the entry unless the bucket already holds a newer version (two writers may publish out of order)."""
    for _ in range(_CAS_TRIES):
        try:
            current = await kv.get(key)
        except KeyNotFoundError:
            current = None
        try:
            if current is None or not current.value:
                await kv.put(key, entry.encode())
            elif codec.ChannelEntry.decode(current.value).version >= entry.version:
                return
            else:
                assert current.revision is not None
                await kv.update(key, entry.encode(), last=current.revision)
            return
        except KeyWrongLastSequenceError:
            continue  # another writer got in between: read again
    await kv.put(key, entry.encode())


async def _delete_if_points_to(kv: KeyValue, key: str, channel_id: str) -> None:
    try:
        entry = await kv.get(key)
    except KeyNotFoundError:
        return
    if entry.value and entry.value.decode() == channel_id:
        with contextlib.suppress(KeyWrongLastSequenceError, APIError):
            await kv.delete(key, last=entry.revision)
