"""The router's JetStream plumbing: its durable consumer (resumed at the ack floor) and the rules loaded from KV."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace

from nats.js.api import AckPolicy, ConsumerConfig, ConsumerInfo, DeliverPolicy
from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError
from pydantic import ValidationError

from services.common.domain.rules.model import Rule
from services.common.messages import codec
from services.common.nats import subjects
from services.common.nats.kv_listing import history
from services.ingest.routing import rule_of
from services.ingest.rule_table import RuleTable

log = logging.getLogger(__name__)

FirstStart = Callable[[], Awaitable[int | None]]  # where a new consumer starts (None: the stream's first message)

MAX_ACK_PENDING = 20_000
MAX_DELIVER = 20
ACK_WAIT_SECONDS = 30.0


def router_consumer_config(durable: str) -> ConsumerConfig:
    """A durable pull consumer of the whole raw stream, acked one message at a time, from the first message."""
    return ConsumerConfig(
        durable_name=durable,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=ACK_WAIT_SECONDS,
        max_ack_pending=MAX_ACK_PENDING,
        max_deliver=MAX_DELIVER,
        description="cep router: raw events -> shard work",
    )


async def bind_router_consumer(
    js: JetStreamContext, durable: str, first_start: FirstStart | None = None
) -> JetStreamContext.PullSubscription:
    """Bind the router's consumer; if it holds unacked messages, recreate it at the ack floor first.

    Unacked messages belong to a router that died or failed mid-batch. JetStream would redeliver them only after
    `ack_wait`, behind newer messages; restarting at the ack floor replays them first, in stream order.
    A consumer that does not exist yet starts at the stream's first message, or where `first_start` says
    (partition_handover.py: after a change of the partition count).
    """
    stream = subjects.EVENTS_STREAM
    config = router_consumer_config(durable)
    info = await _consumer_info(js, stream, durable)
    if info is not None and info.num_ack_pending:
        start = info.ack_floor.stream_seq + 1 if info.ack_floor and info.ack_floor.stream_seq else None
        log.info("router consumer has %d unacked message(s): resuming at %s", info.num_ack_pending, start)
        await js.delete_consumer(stream, durable)
        if start is not None:
            config = replace(config, deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start)
        info = None
    if info is None:
        start = None if first_start is None else await first_start()
        if start is not None:
            config = replace(config, deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start)
        await js.add_consumer(stream, config)
    return await js.pull_subscribe_bind(durable=durable, stream=stream)


async def _consumer_info(js: JetStreamContext, stream: str, durable: str) -> ConsumerInfo | None:
    try:
        return await js.consumer_info(stream, durable)
    except NotFoundError:
        return None


async def load_rules(js: JetStreamContext) -> RuleTable:
    """Every rule of the rule bucket with its kept history (deletions included), as a RuleTable."""
    kv = await js.key_value(subjects.RULES_BUCKET)
    revisions_of: dict[str, list[Rule | None]] = {}
    for entry in await history(kv):
        rule_id = entry.key.split(".", 1)[-1]
        if entry.deleted:
            revisions_of.setdefault(rule_id, []).append(None)
            continue
        rule = _parse(entry.key, entry.value)
        if rule is not None:
            revisions_of.setdefault(rule.rule_id, []).append(rule)
    table = RuleTable()
    for rule_id, revisions in revisions_of.items():
        table.load(rule_id, revisions)
    return table


def _parse(key: str, value: bytes | None) -> Rule | None:
    try:
        return rule_of(codec.loads(value or b"null"))
    except (ValueError, ValidationError) as exc:
        log.warning("unreadable rule %s in the rule bucket: %s", key, exc)
        return None
