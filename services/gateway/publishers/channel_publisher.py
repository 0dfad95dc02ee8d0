"""Channel distribution: every committed channel change is mirrored into the `cep-channels` KV bucket.

Read-your-writes: the routes call `publish` after the commit and before the response, and the notifier
reads the bucket at delivery time, so a delivery after the response uses the new config. Two keys per channel:
`<tenant>.<channel_id>` holds the channel with its secrets sealed (channel_sealing.py), `<tenant>.name.<name>`
its id. Every write of a channel rolls its older revisions up and a delete purges them, so no older revision
keeps a secret in the clear or under a dropped key. The shared publisher (kv_publisher.py) reconciles the bucket
from SQL; at start the gateway first re-seals SQL with the first key, and then every mirrored entry.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence

from nats.js.client import JetStreamContext
from nats.js.errors import APIError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db.sql_engine import Database
from services.common.db.tables import ChannelRow
from services.common.domain.notify.channels import split_stored
from services.common.messages.channels import ChannelEntry
from services.common.nats import subjects
from services.common.secrets.channel_sealing import sealed_config
from services.common.secrets.sealing import SecretBox, is_sealed
from services.gateway.channel_secrets import reseal_channels
from services.gateway.nats.bus import GatewayBus
from services.gateway.publishers.kv_publisher import (
    RECONCILE_SECONDS,
    KvPublisher,
    SoftDeletedRows,
    put_newer,
    stored_value,
)
from services.gateway.store import channels as store

log = logging.getLogger(__name__)


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


class Channels(SoftDeletedRows[ChannelRow]):
    """Channels: the entry (rolled up, secrets sealed) and the name key; a delete purges every revision."""

    bucket = subjects.CHANNELS_BUCKET
    what = "channel"

    def __init__(self, box: SecretBox) -> None:
        self.box = box

    async def rows(self, session: AsyncSession) -> Sequence[ChannelRow]:
        return await store.all_channels(session)

    def key(self, row: ChannelRow) -> str:
        return subjects.channel_key(row.tenant, row.channel_id)

    def entry(self, row: ChannelRow) -> bytes:
        return entry_of(row, self.box).encode()

    async def prepare(self, db: Database) -> None:
        """Re-seal SQL with the first key (plaintext from before sealing too), before the first reconciliation."""
        try:
            resealed = await reseal_channels(db, self.box)
            if resealed.values:
                log.info("re-sealed %d channel secret(s) of %d channel(s)", resealed.values, resealed.channels)
        except Exception as exc:  # the gateway still serves; `cep secrets rotate` does the same on demand
            log.warning("re-sealing channel secrets failed: %s", type(exc).__name__)

    async def put(self, js: JetStreamContext, kv: KeyValue, row: ChannelRow, previous: ChannelRow | None) -> None:
        """Write the entry (the same version too: a re-sealed one) and the name key; a rename frees the old name."""
        await put_newer(js, kv, self.bucket, self.key(row), self.entry(row), row.version, same_too=True, rollup=True)
        await kv.put(subjects.channel_name_key(row.tenant, row.name), row.channel_id.encode())
        if previous is not None and previous.name != row.name:
            await _delete_if_points_to(kv, subjects.channel_name_key(row.tenant, previous.name), row.channel_id)

    async def drop(self, js: JetStreamContext, kv: KeyValue, row: ChannelRow) -> None:
        """Remove a deleted channel's keys (its name key only if it still names this channel)."""
        await kv.purge(self.key(row))  # every revision: they held its secrets
        await _delete_if_points_to(kv, subjects.channel_name_key(row.tenant, row.name), row.channel_id)

    async def stale(self, kv: KeyValue, row: ChannelRow, first_pass: bool) -> bool:
        """Whether the bucket differs from SQL: a missing, stale or stray entry or name key, a secret mirrored in the
        clear (before sealing) or sealed otherwise than SQL holds it (re-sealed since: a rotation), or, on the first
        pass after start, a deleted channel whose delete left older revisions behind."""
        try:
            found = await kv.get(self.key(row))
            entry, gone = (ChannelEntry.decode(found.value) if found.value else None), None
        except KeyNotFoundError as missing:
            entry, gone = None, missing.op
        named_value = await stored_value(kv, subjects.channel_name_key(row.tenant, row.name))
        named = named_value.decode() if named_value is not None else None
        if row.deleted_at is not None:
            return entry is not None or named == row.channel_id or (first_pass and gone == "DEL")
        if entry is None or entry.version != row.version or named != row.channel_id:
            return True
        for name, stored in split_stored(row.type, row.config, row.secrets)[1].items():
            mirrored = entry.config.get(name)
            if not is_sealed(mirrored) or (is_sealed(stored) and mirrored != stored):
                return True
        return False


class ChannelPublisher(KvPublisher[ChannelRow]):
    """The channels' publisher; a rename passes the row before it (`publish(row, previous)`) to free the old name."""

    def __init__(self, bus: GatewayBus, db: Database, box: SecretBox, interval: float = RECONCILE_SECONDS) -> None:
        super().__init__(bus, db, Channels(box), interval)


async def _delete_if_points_to(kv: KeyValue, key: str, channel_id: str) -> None:
    try:
        entry = await kv.get(key)
    except KeyNotFoundError:
        return
    if entry.value and entry.value.decode() == channel_id:
        with contextlib.suppress(KeyWrongLastSequenceError, APIError):
            await kv.delete(key, last=entry.revision)
