"""Notification-policy distribution: each tenant's policy mirrored from SQL into the `cep-notification-policies` bucket.

The key is the tenant, the value `{"tenant", "version", "policy"}` (the stored document: route, receivers with their
channel ids or names, time intervals). A tenant without a policy, or whose policy was deleted, has no key: the
notifier then sends by the rules' explicit channel actions only. Like channels, the routes mirror after the commit,
and the shared publisher (kv_publisher.py) reconciles the bucket from SQL.
"""

from __future__ import annotations

from collections.abc import Sequence

from nats.js.client import JetStreamContext
from nats.js.kv import KeyValue
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db.sql_engine import Database
from services.common.db.tables import NotificationPolicyRow
from services.common.messages import codec
from services.common.nats import subjects
from services.gateway.nats.bus import GatewayBus
from services.gateway.publishers.kv_publisher import RECONCILE_SECONDS, KvPublisher, SoftDeletedRows, put_newer
from services.gateway.store import notification_policies as store


class NotificationPolicies(SoftDeletedRows[NotificationPolicyRow]):
    """Policies: `<tenant>` holds the tenant's policy document with its version."""

    bucket = subjects.NOTIFICATION_POLICIES_BUCKET
    what = "notification policy"

    async def rows(self, session: AsyncSession) -> Sequence[NotificationPolicyRow]:
        return await store.all_policies(session)

    def key(self, row: NotificationPolicyRow) -> str:
        return row.tenant

    def entry(self, row: NotificationPolicyRow) -> bytes:
        return codec.dumps({"tenant": row.tenant, "version": row.version, "policy": row.document})

    async def put(
        self, js: JetStreamContext, kv: KeyValue, row: NotificationPolicyRow, previous: NotificationPolicyRow | None
    ) -> None:
        await put_newer(js, kv, self.bucket, self.key(row), self.entry(row), row.version, same_too=False, rollup=False)


class NotificationPolicyPublisher(KvPublisher[NotificationPolicyRow]):
    """The notification policies' publisher."""

    def __init__(self, bus: GatewayBus, db: Database, interval: float = RECONCILE_SECONDS) -> None:
        super().__init__(bus, db, NotificationPolicies(), interval)
