"""Feeding an evaluator through the real router: rule changes and samples in, routed and stored alerts out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from nats.js.client import JetStreamContext

from services.common.domain.rules.model import Rule
from services.common.messages import codec
from services.common.messages.work import RuleChange
from services.common.nats import subjects
from services.common.nats.router_partitions import is_router_consumer
from tests.evaluator.kit import read


async def publish_rule(js: JetStreamContext, rule: Rule) -> None:
    """As the gateway does: the change on the control subject, then the rule bucket."""
    message = RuleChange("upsert", rule.tenant, rule.rule_id, rule.version, rule.canonical(), rule.updated_at)
    await js.publish(
        subjects.CONTROL_RULES, codec.dumps(message.as_dict()), headers={subjects.MSG_ID: message.msg_id()}
    )
    kv = await js.key_value(subjects.RULES_BUCKET)
    await kv.put(subjects.rule_key(rule.tenant, rule.rule_id), codec.dumps(rule.canonical()))


async def publish_samples(
    js: JetStreamContext, tenant: str, hosts: Sequence[str], base: datetime, seconds: Sequence[int], value: float
) -> None:
    """One `cpu_usage` sample per host and second, as a NATS producer would send them (id `<host>-<second>`)."""
    for second in seconds:
        for host in hosts:
            when = (base + timedelta(seconds=second)).isoformat()
            body = codec.dumps({"cpu_usage": value, "host": host, "timestamp": when})
            await js.publish(subjects.ingest_subject(tenant), body, headers={subjects.MSG_ID: f"{host}-{second}"})


async def router_done(js: JetStreamContext) -> bool:
    """Every router consumer (one per router partition) has routed and acknowledged everything on the raw stream."""
    routers = [info for info in await js.consumers_info(subjects.EVENTS_STREAM) if is_router_consumer(info.name)]
    return bool(routers) and all(not info.num_pending and not info.num_ack_pending for info in routers)


async def stored_alerts(js: JetStreamContext) -> list[dict[str, Any]]:
    """Every alert message on CEP_ALERTS, as JSON."""
    return [codec.loads(data) for _, data in await read(js, subjects.ALERTS_STREAM, f"{subjects.ALERTS_PREFIX}.>")]
