"""Rule distribution: every committed change goes into the event stream (in order) and the rule KV bucket.

Read-your-writes: the change is published on `cep.control.rules`, a subject of the same stream as the events,
and the response waits for its PubAck. The router reads that stream in order, so every event ingested after
the response is routed and evaluated with the new rule. The KV bucket is the start-up state of the router and
the shards; the shared publisher (kv_publisher.py) reconciles it, and the shards through the stream, from SQL.
"""

from __future__ import annotations

from collections.abc import Sequence

from nats.js.client import JetStreamContext
from nats.js.kv import KeyValue
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db.sql_engine import Database
from services.common.db.tables import RuleRow
from services.common.messages import codec, work
from services.common.nats import subjects
from services.gateway import row_codec
from services.gateway.nats.bus import GatewayBus
from services.gateway.publishers.kv_publisher import RECONCILE_SECONDS, KvPublisher, SoftDeletedRows
from services.gateway.rule_changes import RuleChange
from services.gateway.store import rules as store


def change_message(change: RuleChange) -> work.RuleChange:
    """The wire form of a committed change (a deletion carries no rule)."""
    rule = change.rule
    deleted = change.kind == "deleted"
    return work.RuleChange(
        op="delete" if deleted else "upsert",
        tenant=rule.tenant,
        rule_id=rule.rule_id,
        version=rule.version,
        rule=None if deleted else rule.canonical(),
        at=rule.updated_at,
    )


def row_message(row: RuleRow) -> work.RuleChange:
    """The wire form of a rule row as SQL holds it now."""
    if row.deleted_at is not None:
        return work.RuleChange("delete", row.tenant, row.rule_id, row.version, None, row.deleted_at)
    rule = row_codec.rule_from_row(row)
    return work.RuleChange("upsert", rule.tenant, rule.rule_id, rule.version, rule.canonical(), rule.updated_at)


async def send(js: JetStreamContext, kv: KeyValue, message: work.RuleChange) -> None:
    """Publish a change on the control subject (waiting for its PubAck), then mirror it into the bucket."""
    await js.publish(
        subjects.CONTROL_RULES, codec.dumps(message.as_dict()), headers={subjects.MSG_ID: message.msg_id()}
    )
    key = subjects.rule_key(message.tenant, message.rule_id)
    if message.op == "delete":
        await kv.delete(key)
    else:
        await kv.put(key, codec.dumps(message.rule))


class Rules(SoftDeletedRows[RuleRow]):
    """Rules: `<tenant>.<rule_id>` holds the canonical rule; every write also goes through the stream."""

    bucket = subjects.RULES_BUCKET
    what = "rule"

    async def rows(self, session: AsyncSession) -> Sequence[RuleRow]:
        return await store.all_rules(session)

    def key(self, row: RuleRow) -> str:
        return subjects.rule_key(row.tenant, row.rule_id)

    async def put(self, js: JetStreamContext, kv: KeyValue, row: RuleRow, previous: RuleRow | None) -> None:
        await send(js, kv, row_message(row))

    async def drop(self, js: JetStreamContext, kv: KeyValue, row: RuleRow) -> None:
        await send(js, kv, row_message(row))


class RulePublisher(KvPublisher[RuleRow]):
    """The rules' publisher; also a RuleWriter hook, so each committed change is published before the response."""

    def __init__(self, bus: GatewayBus, db: Database, interval: float = RECONCILE_SECONDS) -> None:
        super().__init__(bus, db, Rules(), interval)

    async def __call__(self, change: RuleChange) -> None:
        await send(self.bus.js, await self.bucket(), change_message(change))
