"""Inhibit-rule distribution: every committed inhibit-rule change is mirrored into the `cep-inhibit-rules` bucket.

The notifier's inhibition stage reads the bucket (`<tenant>.<rule_id>`: the rule's source and target matchers,
`equal` labels and version); a deleted rule's key is removed. Like channels and polling targets, the routes
mirror after the commit and before the response, and the shared publisher (kv_publisher.py) reconciles from SQL.
"""

from __future__ import annotations

from collections.abc import Sequence

from nats.js.client import JetStreamContext
from nats.js.kv import KeyValue
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db.sql_engine import Database
from services.common.db.tables import InhibitRuleRow
from services.common.messages import codec
from services.common.nats import subjects
from services.gateway.nats.bus import GatewayBus
from services.gateway.publishers.kv_publisher import RECONCILE_SECONDS, KvPublisher, SoftDeletedRows, put_newer
from services.gateway.store import inhibit_rules as store


class InhibitRules(SoftDeletedRows[InhibitRuleRow]):
    """Inhibit rules: `<tenant>.<rule_id>` holds the rule's spec with its identity and version."""

    bucket = subjects.INHIBIT_RULES_BUCKET
    what = "inhibit rule"

    async def rows(self, session: AsyncSession) -> Sequence[InhibitRuleRow]:
        return await store.all_rules(session)

    def key(self, row: InhibitRuleRow) -> str:
        return subjects.tenant_item_key(row.tenant, row.rule_id)

    def entry(self, row: InhibitRuleRow) -> bytes:
        return codec.dumps({**row.spec, "tenant": row.tenant, "rule_id": row.rule_id, "version": row.version})

    async def put(
        self, js: JetStreamContext, kv: KeyValue, row: InhibitRuleRow, previous: InhibitRuleRow | None
    ) -> None:
        await put_newer(js, kv, self.bucket, self.key(row), self.entry(row), row.version, same_too=False, rollup=False)


class InhibitRulePublisher(KvPublisher[InhibitRuleRow]):
    """The inhibit rules' publisher."""

    def __init__(self, bus: GatewayBus, db: Database, interval: float = RECONCILE_SECONDS) -> None:
        super().__init__(bus, db, InhibitRules(), interval)
