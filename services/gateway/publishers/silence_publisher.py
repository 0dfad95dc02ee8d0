"""Silence distribution: every silence that is not expired is mirrored into the `cep-silences` KV bucket.

The notifier's muting stage reads the bucket (`<tenant>.<silence_id>`: the silence's matchers, times, recurrence
and version). A silence's key exists while the silence is pending or active; an expired one's key is removed,
by the route that expires it or, for a silence that simply ran out, by the next reconciliation.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from nats.js.client import JetStreamContext
from nats.js.kv import KeyValue
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db.sql_engine import Database
from services.common.db.tables import SilenceRow
from services.common.domain.silences.model import SilenceState
from services.common.messages import codec
from services.common.nats import subjects
from services.gateway.nats.bus import GatewayBus
from services.gateway.publishers.kv_publisher import RECONCILE_SECONDS, KvPublisher, Mirrored, put_newer
from services.gateway.row_codec import rfc3339
from services.gateway.schemas.silences import row_state
from services.gateway.store import silences as store


class Silences(Mirrored[SilenceRow]):
    """Silences: a key per silence that is not expired, its entry with its version."""

    bucket = subjects.SILENCES_BUCKET
    what = "silence"

    async def rows(self, session: AsyncSession) -> Sequence[SilenceRow]:
        return await store.mirrored_silences(session, datetime.now(UTC))

    def key(self, row: SilenceRow) -> str:
        return subjects.tenant_item_key(row.tenant, row.silence_id)

    def live(self, row: SilenceRow) -> bool:
        return row_state(row, datetime.now(UTC)) is not SilenceState.EXPIRED

    def version(self, row: SilenceRow) -> int:
        return row.version

    def entry(self, row: SilenceRow) -> bytes:
        return codec.dumps(
            {
                "tenant": row.tenant,
                "silence_id": row.silence_id,
                "version": row.version,
                "matchers": row.matchers,
                "starts_at": rfc3339(row.starts_at),
                "ends_at": rfc3339(row.ends_at),
                "recurrence": row.recurrence,
                "created_by": row.created_by,
                "comment": row.comment,
            }
        )

    async def put(self, js: JetStreamContext, kv: KeyValue, row: SilenceRow, previous: SilenceRow | None) -> None:
        await put_newer(js, kv, self.bucket, self.key(row), self.entry(row), row.version, same_too=False, rollup=False)


class SilencePublisher(KvPublisher[SilenceRow]):
    """The silences' publisher."""

    def __init__(self, bus: GatewayBus, db: Database, interval: float = RECONCILE_SECONDS) -> None:
        super().__init__(bus, db, Silences(), interval)
