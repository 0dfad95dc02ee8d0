"""Changing the router partition count (`CEP_ROUTER_PARTITIONS`): where the new partitions' consumers start.

The consumers of P partitions are `router-<k>of<P>` (`router` for one). A router whose consumer does not exist yet
looks for the consumers of another count. When there are none the stream is routed from its start (a new
deployment). When there are, the routers of that count must have stopped (their leases expired or released:
`OtherCountRouting` until then, and the replica stands by), and every new consumer starts after the lowest ack
floor among them: nothing one of them had not finished is skipped, and what some had already routed past is
routed again, which the shards leave out as copies (they keep the last raw position applied per tenant). The
start is written once, under compare-and-set, to the control bucket (`router-partitions`), so a partition whose
router starts later starts from the same place; the old consumers are then deleted.

Stop every ingest replica of the old count before the new one routes (a rolling update does it: the new replicas
stand by, and report ready, until the old ones are gone).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from nats.js.client import JetStreamContext
from nats.js.errors import KeyDeletedError, KeyNotFoundError, KeyWrongLastSequenceError, NotFoundError
from nats.js.kv import KeyValue

from services.common.messages import codec
from services.common.nats import subjects
from services.common.nats.router_partitions import Partition, count_of_consumer, every_partition, is_router_consumer

log = logging.getLogger(__name__)

HANDOVER_KEY = "router-partitions"  # in CONTROL_BUCKET: {"count": P, "start": S or null}


class OtherCountRouting(RuntimeError):
    """Routers of another partition count still hold their leases: this one waits for them to stop."""


@dataclass(frozen=True)
class Handover:
    count: int
    start: int | None  # the raw sequence the consumers of `count` partitions start at; None: the stream's start


async def consumer_start(js: JetStreamContext, partition: Partition, leases: KeyValue | None) -> int | None:
    """Where `partition`'s new consumer starts (None: at the stream's first message).

    `leases`: the router lease bucket, to tell whether routers of the old count still run (None: no leases are
    used, the caller runs alone).
    """
    control = await js.key_value(subjects.CONTROL_BUCKET)
    while True:
        handover, revision = await _read(control)
        old = [name for name in await _router_consumers(js) if count_of_consumer(name) != partition.count]
        if handover is not None and handover.count == partition.count:
            await _delete(js, old)  # left by a router that wrote the handover and stopped before deleting them
            return handover.start
        if old and leases is not None:
            await _refuse_while_routing(leases, {count_of_consumer(name) for name in old})
        start = await _lowest_floor(js, old) if old else None
        written = Handover(partition.count, start)
        try:
            body = codec.dumps({"count": written.count, "start": written.start})
            if revision is None:
                await control.create(HANDOVER_KEY, body)
            else:
                await control.update(HANDOVER_KEY, body, last=revision)
        except KeyWrongLastSequenceError:
            continue  # another router of the new count wrote it first: read theirs
        log.info("router partitions: %d from raw sequence %s (after %s)", partition.count, start or 1, old or "none")
        await _delete(js, old)
        return start


async def _read(control: KeyValue) -> tuple[Handover | None, int | None]:
    try:
        entry = await control.get(HANDOVER_KEY)
    except (KeyNotFoundError, KeyDeletedError):
        return None, None
    try:
        body = codec.loads(entry.value or b"{}")
        start = body.get("start")
        return Handover(int(body["count"]), None if start is None else int(start)), entry.revision
    except (KeyError, TypeError, ValueError, AttributeError):
        log.warning("unreadable %s in the control bucket; writing it again", HANDOVER_KEY)
        return None, entry.revision


async def _router_consumers(js: JetStreamContext) -> list[str]:
    return sorted(
        info.name for info in await js.consumers_info(subjects.EVENTS_STREAM) if is_router_consumer(info.name)
    )


async def _refuse_while_routing(leases: KeyValue, counts: set[int]) -> None:
    for count in sorted(counts):
        for partition in every_partition(count):
            try:
                await leases.get(partition.lease_key)
            except (KeyNotFoundError, KeyDeletedError):  # expired, or released
                continue
            raise OtherCountRouting(f"{partition} is still routing: waiting for the routers of {count} to stop")


async def _lowest_floor(js: JetStreamContext, names: list[str]) -> int:
    """The first raw sequence not acked by every consumer of `names` (1 when one acked nothing)."""
    floors = []
    for name in names:
        info = await js.consumer_info(subjects.EVENTS_STREAM, name)
        floors.append(info.ack_floor.stream_seq if info.ack_floor and info.ack_floor.stream_seq else 0)
    return min(floors) + 1


async def _delete(js: JetStreamContext, names: list[str]) -> None:
    for name in names:
        try:
            await js.delete_consumer(subjects.EVENTS_STREAM, name)
            log.info("deleted the router consumer %s of another partition count", name)
        except NotFoundError:
            pass
