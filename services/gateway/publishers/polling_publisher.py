"""Polling-target distribution: every committed target change is mirrored into the `cep-polling` KV bucket.

The scheduler replicas watch the bucket; the leader polls what it holds. Like channels, the routes mirror after
the commit and before the response, and the shared publisher (kv_publisher.py) reconciles the bucket from SQL.
Deleting a target also removes its latest snapshot.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from nats.js.client import JetStreamContext
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db.sql_engine import Database
from services.common.db.tables import PollingTargetRow
from services.common.messages import codec
from services.common.nats import subjects
from services.gateway.nats.bus import GatewayBus
from services.gateway.publishers.kv_publisher import RECONCILE_SECONDS, KvPublisher, SoftDeletedRows, put_newer
from services.gateway.store import polling as store


class PollingTargets(SoftDeletedRows[PollingTargetRow]):
    """Polling targets: `<tenant>.<target_id>` holds the target's spec with its identity and version."""

    bucket = subjects.POLLING_BUCKET
    what = "polling target"

    async def rows(self, session: AsyncSession) -> Sequence[PollingTargetRow]:
        return await store.all_targets(session)

    def key(self, row: PollingTargetRow) -> str:
        return subjects.polling_key(row.tenant, row.target_id)

    def entry(self, row: PollingTargetRow) -> bytes:
        return codec.dumps({**row.spec, "tenant": row.tenant, "target_id": row.target_id, "version": row.version})

    async def put(
        self, js: JetStreamContext, kv: KeyValue, row: PollingTargetRow, previous: PollingTargetRow | None
    ) -> None:
        await put_newer(js, kv, self.bucket, self.key(row), self.entry(row), row.version, same_too=False, rollup=False)

    async def drop(self, js: JetStreamContext, kv: KeyValue, row: PollingTargetRow) -> None:
        """Remove a deleted target's key and its latest snapshot."""
        await super().drop(js, kv, row)
        snapshots = await js.key_value(subjects.POLLING_SNAPSHOTS_BUCKET)
        with contextlib.suppress(KeyNotFoundError):
            await snapshots.delete(self.key(row))


class PollingPublisher(KvPublisher[PollingTargetRow]):
    """The polling targets' publisher."""

    def __init__(self, bus: GatewayBus, db: Database, interval: float = RECONCILE_SECONDS) -> None:
        super().__init__(bus, db, PollingTargets(), interval)
