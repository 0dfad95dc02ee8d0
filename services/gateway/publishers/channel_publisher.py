"""Channel distribution: every committed channel change is mirrored into the `cep-channels` KV bucket.

Read-your-writes: the routes call `publish`/`remove` after the commit and before the response, and the notifier
reads the bucket at delivery time, so a delivery after the response uses the new config. Two keys per channel:
`<tenant>.<channel_id>` holds the channel with its secrets sealed (channel_sealing.py), `<tenant>.name.<name>`
its id. Every write of a channel rolls its older revisions up and a delete purges them, so no older revision
keeps a secret in the clear or under a dropped key. `keep_reconciled` repairs the bucket from SQL (the system
of record) at start and periodically, so a change whose mirror write failed (NATS down at that moment) is fixed
within one interval; at start the gateway also re-seals SQL with the first key and then every mirrored entry.
"""

from __future__ import annotations

import contextlib
import logging

from nats.js.client import JetStreamContext
from nats.js.errors import APIError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from services.common.db.sql_engine import Database
from services.common.db.tables import ChannelRow
from services.common.domain.notify.channels import split_stored
from services.common.messages.channels import ChannelEntry
from services.common.nats import subjects
from services.common.secrets.channel_sealing import sealed_config
from services.common.secrets.sealing import SecretBox, is_sealed
from services.gateway.channel_secrets import reseal_channels
from services.gateway.nats.bus import GatewayBus
from services.gateway.publishers.kv_publisher import RECONCILE_SECONDS, KvPublisher
from services.gateway.store import channels as store

log = logging.getLogger(__name__)

_CAS_TRIES = 5
_WRONG_LAST_SEQUENCE = (10071, 10164)


def entry_of(row: ChannelRow, box: SecretBox) -> ChannelEntry:
    """The bucket entry of a channel row: public config and sealed secrets together, for the notifier."""
    return ChannelEntry(
        tenant=row.tenant,
        channel_id=row.channel_id,
        name=row.name,
        type=row.type,
        config=sealed_config(box, row.type, row.config, row.secrets),
        version=row.version,
    )


class ChannelPublisher(KvPublisher):
    """Mirrors channel rows into the bucket; a gateway component (its reconcile loop runs while started)."""

    bucket = subjects.CHANNELS_BUCKET
    what = "channel"

    def __init__(self, bus: GatewayBus, db: Database, box: SecretBox, interval: float = RECONCILE_SECONDS) -> None:
        super().__init__(bus, db, interval)
        self.box = box
        self._first_pass = True

    async def start(self) -> None:
        """Re-seal SQL with the first key (plaintext from before sealing too), then start reconciling the bucket."""
        try:
            resealed = await reseal_channels(self.db, self.box)
            if resealed.values:
                log.info("re-sealed %d channel secret(s) of %d channel(s)", resealed.values, resealed.channels)
        except Exception as exc:  # the gateway still serves; `cep secrets rotate` does the same on demand
            log.warning("re-sealing channel secrets failed: %s", type(exc).__name__)
        await super().start()

    async def publish(self, row: ChannelRow, previous_name: str | None = None) -> None:
        """Mirror a created or changed channel (and free its previous name's key after a rename)."""
        kv = await self._bucket()
        await _put_newer(self.bus.js, kv, subjects.channel_key(row.tenant, row.channel_id), entry_of(row, self.box))
        await kv.put(subjects.channel_name_key(row.tenant, row.name), row.channel_id.encode())
        if previous_name is not None and previous_name != row.name:
            await _delete_if_points_to(kv, subjects.channel_name_key(row.tenant, previous_name), row.channel_id)

    async def remove(self, row: ChannelRow) -> None:
        """Remove a deleted channel's keys (its name key only if it still names this channel)."""
        kv = await self._bucket()
        await kv.purge(subjects.channel_key(row.tenant, row.channel_id))  # every revision: they held its secrets
        await _delete_if_points_to(kv, subjects.channel_name_key(row.tenant, row.name), row.channel_id)

    async def reconcile(self) -> int:
        """Bring the bucket in line with SQL; return how many channels needed a fix."""
        await self.bus.wait_ready()
        kv = await self.bus.js.key_value(subjects.CHANNELS_BUCKET)
        async with self.db.read() as session:
            rows = await store.all_channels(session)
        fixed, first_pass = 0, self._first_pass
        for row in rows:
            if await self._needs_fix(kv, row, first_pass):
                await (self.publish(row) if row.deleted_at is None else self.remove(row))
                fixed += 1
        self._first_pass = False
        if fixed:
            log.info("reconciled %d channel(s) from SQL into the channels bucket", fixed)
        return fixed

    async def _needs_fix(self, kv: KeyValue, row: ChannelRow, first_pass: bool) -> bool:
        """Whether the bucket differs from SQL: a missing, stale or stray entry or name key, a secret mirrored in the
        clear (before sealing) or sealed otherwise than SQL holds it (re-sealed since: a rotation), or, on the first
        pass after start, a deleted channel whose delete left older revisions behind."""
        try:
            found = await kv.get(subjects.channel_key(row.tenant, row.channel_id))
            entry, gone = (ChannelEntry.decode(found.value) if found.value else None), None
        except KeyNotFoundError as missing:
            entry, gone = None, missing.op
        named = await _value(kv, subjects.channel_name_key(row.tenant, row.name))
        if row.deleted_at is not None:
            return entry is not None or named == row.channel_id or (first_pass and gone == "DEL")
        if entry is None or entry.version != row.version or named != row.channel_id:
            return True
        for name, stored in split_stored(row.type, row.config, row.secrets)[1].items():
            mirrored = entry.config.get(name)
            if not is_sealed(mirrored) or (is_sealed(stored) and mirrored != stored):
                return True
        return False


async def _value(kv: KeyValue, key: str) -> str | None:
    try:
        entry = await kv.get(key)
    except KeyNotFoundError:
        return None
    return entry.value.decode() if entry.value else None


async def _put_newer(js: JetStreamContext, kv: KeyValue, key: str, entry: ChannelEntry) -> None:
    """Write the entry unless the bucket already holds a newer version (two writers may publish out of order).

    The same version is written again (a re-sealed entry), and every write rolls the key's older revisions up.
    """
    for _ in range(_CAS_TRIES):
        try:
            current = await kv.get(key)
        except KeyNotFoundError:
            current = None
        try:
            if current is None or not current.value:
                await _rollup(js, key, entry.encode())
            elif ChannelEntry.decode(current.value).version > entry.version:
                return
            else:
                await _rollup(js, key, entry.encode(), last=current.revision)
            return
        except KeyWrongLastSequenceError:
            continue  # another writer got in between: read again
    await _rollup(js, key, entry.encode())


async def _rollup(js: JetStreamContext, key: str, value: bytes, last: int | None = None) -> None:
    """Put the value as the key's only revision (`Nats-Rollup: sub`), if `last` is still its latest revision."""
    headers = {"Nats-Rollup": "sub"}
    if last is not None:
        headers["Nats-Expected-Last-Subject-Sequence"] = str(last)
    try:
        await js.publish(f"$KV.{subjects.CHANNELS_BUCKET}.{key}", value, headers=headers)
    except APIError as exc:
        if exc.err_code in _WRONG_LAST_SEQUENCE:
            raise KeyWrongLastSequenceError(description=exc.description) from None
        raise


async def _delete_if_points_to(kv: KeyValue, key: str, channel_id: str) -> None:
    try:
        entry = await kv.get(key)
    except KeyNotFoundError:
        return
    if entry.value and entry.value.decode() == channel_id:
        with contextlib.suppress(KeyWrongLastSequenceError, APIError):
            await kv.delete(key, last=entry.revision)
