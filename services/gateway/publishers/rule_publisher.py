"""Rule distribution: every committed change goes into the event stream (in order) and the rule KV bucket.

Read-your-writes: the change is published on `cep.control.rules`, a subject of the same stream as the events,
and the response waits for its PubAck. The router reads that stream in order, so every event ingested after
the response is routed and evaluated with the new rule. The KV bucket is the start-up state of the router and
the shards; `reconcile` repairs it from SQL (the system of record) when the gateway starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from services.common.db.sql_engine import Database
from services.common.messages import codec, work
from services.common.nats import subjects
from services.gateway import row_codec
from services.gateway.nats.bus import GatewayBus
from services.gateway.rule_changes import RuleChange
from services.gateway.store import rules as store

log = logging.getLogger(__name__)

RECONCILE_SECONDS = 30.0
PUBLISH_WAIT_SECONDS = 5.0


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


class RulePublisher:
    """A RuleWriter hook: publish each change, then mirror it into the KV bucket."""

    def __init__(self, bus: GatewayBus, db: Database) -> None:
        self.bus = bus
        self.db = db

    async def __call__(self, change: RuleChange) -> None:
        await self.publish(change_message(change))

    async def publish(self, message: work.RuleChange) -> None:
        with contextlib.suppress(TimeoutError):
            await self.bus.wait_ready(timeout=PUBLISH_WAIT_SECONDS)  # just after start-up: wait, then 503
        js = self.bus.js
        await js.publish(
            subjects.CONTROL_RULES, codec.dumps(message.as_dict()), headers={subjects.MSG_ID: message.msg_id()}
        )
        kv = await js.key_value(subjects.RULES_BUCKET)
        key = subjects.rule_key(message.tenant, message.rule_id)
        if message.op == "delete":
            await kv.delete(key)
        else:
            await kv.put(key, codec.dumps(message.rule))

    async def reconcile(self) -> int:
        """Bring the KV bucket (and the shards, via the stream) in line with SQL; return how many were fixed."""
        await self.bus.wait_ready()
        kv = await self.bus.js.key_value(subjects.RULES_BUCKET)
        async with self.db.read() as session:
            rows = await store.all_rules(session)
        fixed = 0
        for row in rows:
            stored = await _kv_version(kv, subjects.rule_key(row.tenant, row.rule_id))
            if row.deleted_at is None and stored != row.version:
                rule = row_codec.rule_from_row(row)
                change = work.RuleChange(
                    "upsert", rule.tenant, rule.rule_id, rule.version, rule.canonical(), rule.updated_at
                )
            elif row.deleted_at is not None and stored is not None:
                change = work.RuleChange("delete", row.tenant, row.rule_id, row.version, None, row.deleted_at)
            else:
                continue
            await self.publish(change)
            fixed += 1
        if fixed:
            log.info("reconciled %d rule(s) from SQL into the rule bucket", fixed)
        return fixed

    async def keep_reconciled(self, stop: asyncio.Event, interval: float = RECONCILE_SECONDS) -> None:
        """Reconcile at start and then periodically until `stop` is set: a change whose publish failed is repaired.

        Stopped by the event, never cancelled: cancelling an aiosqlite call mid-flight can hang the shutdown.
        """
        while not stop.is_set():
            try:
                if self.bus.is_ready:
                    await self.reconcile()
            except Exception as exc:
                log.warning("rule reconciliation failed: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval if self.bus.is_ready else 0.2)


async def _kv_version(kv: KeyValue, key: str) -> int | None:
    """The rule version the bucket holds under a key, or None (never listed: `keys()` is slow and hangs on cancel)."""
    try:
        entry = await kv.get(key)
    except KeyNotFoundError:
        return None
    return int(codec.loads(entry.value).get("version", 0)) if entry.value else None
