"""Partitioned routing against a real nats-server: two ingest replicas route two partitions at once, each event
reaches its shard once and in its tenant's raw order, a replica that goes hands its partition over, and a change
of the partition count starts the new routers where the old ones stopped."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable
from typing import TypeVar

import nats
import pytest
from nats.js.client import JetStreamContext

from services.common.messages import codec
from services.common.nats import subjects
from services.common.nats.epoch_markers import marker_cut
from services.common.nats.lease import RouterLease, router_lease_bucket
from services.common.nats.router_partitions import (
    Partition,
    count_of_consumer,
    is_router_consumer,
    partition_of,
    tenant_of_message,
)
from services.evaluator.work import EventWork, RawDone, fresh
from services.ingest.partition_handover import HANDOVER_KEY
from services.ingest.router import Router
from services.ingest.router_pool import RouterPool
from tests.common.domain.kit import make_rule, metric
from tests.ingest.test_router import broker, change, js, on, routed, send, until, work
from tests.support.nats import NatsServer

__all__ = ["broker", "js"]  # the fixtures, shared with the router tests

LEASE = 1.0
TENANTS = ("acme", "beta", "gamma", "delta", "omega", "sigma")
RULES = {tenant: make_rule(metric("cpu"), f"cpu-{tenant}", tenant=tenant) for tenant in TENANTS}


def test_tenants_hash_to_partitions_stably_and_the_names_keep_the_single_routers() -> None:
    assert [partition_of(t, 2) for t in TENANTS] == [partition_of(t, 2) for t in TENANTS]  # no per-process seed
    assert {partition_of(t, 2) for t in TENANTS} == {0, 1}  # these tenants use both (the tests below rely on it)
    assert {partition_of(f"t{n}", 4) for n in range(100)} == {0, 1, 2, 3}
    one = Partition()
    assert (one.durable, one.lease_key, one.marker_subject) == ("router", "router", subjects.WORK_EPOCH)
    two = Partition(1, 2)
    assert (two.durable, two.lease_key, two.marker_subject) == ("router-1of2", "router-1of2", "cep.work.epoch-1")
    assert [is_router_consumer(n) for n in ("router", "router-0of2", "router-x", "recorder")] == [1, 1, 0, 0]
    assert count_of_consumer("router-3of4") == 4 and count_of_consumer("router") == 1
    change = codec.dumps({"op": "delete", "tenant": "beta", "rule_id": "r"})
    assert tenant_of_message(subjects.CONTROL_RULES, change) == "beta"
    assert tenant_of_message(subjects.CONTROL_RULES, b"not json") is None
    assert tenant_of_message("cep.ingest.acme", b"{}") == "acme"
    with pytest.raises(ValueError):
        Partition(2, 2)


async def test_two_replicas_route_a_partition_each_and_every_event_reaches_its_shard_once_in_order(
    broker: NatsServer, js: JetStreamContext
) -> None:
    for rule in RULES.values():
        await change(js, rule)
    async with contextlib.AsyncExitStack() as cleanup:
        clients = [await _connected(cleanup, broker.url) for _ in range(2)]
        pools = [_stopped_at_end(cleanup, _pool(nc, f"replica-{n}")) for n, nc in enumerate(clients)]
        for pool in pools:
            await pool.start()
        await until(lambda: sorted(len(pool.held) for pool in pools) == [1, 1], "a partition for each replica")
        for n in range(120):
            for tenant in TENANTS:
                await send(js, {"cpu": n}, f"{tenant}-a{n}", tenant)
        await _all_routed(js, 2)
        routers = [router for pool in pools for router in pool.routers]
        assert all(r.stats.messages and r.stats.other_partitions for r in routers if r.running)  # each its share

        await pools[0].stop()  # a clean stop releases its leases: the other replica takes both partitions
        await until(lambda: len(pools[1].held) == 2, "the other replica routing both partitions")
        for n in range(120):
            for tenant in TENANTS:
                await send(js, {"cpu": n}, f"{tenant}-b{n}", tenant)
        await _all_routed(js, 2)
        _assert_once_in_order(
            await work(js, applied=False), lambda t: [f"{t}-{p}{n}" for p in "ab" for n in range(120)]
        )


async def test_a_new_partition_count_waits_for_the_old_routers_then_starts_where_they_stopped(
    broker: NatsServer, js: JetStreamContext
) -> None:
    for rule in RULES.values():
        await change(js, rule)
    async with contextlib.AsyncExitStack() as cleanup:
        clients = [await _connected(cleanup, broker.url) for _ in range(2)]
        old = _stopped_at_end(cleanup, Router(clients[0], default_shards=2, fetch_seconds=0.2, lease_seconds=LEASE))
        new = _stopped_at_end(cleanup, _pool(clients[1], "new-replica"))
        await old.start()
        await until(lambda: old.running, "the single router routing")
        for n in range(60):
            for tenant in TENANTS:
                await send(js, {"cpu": n}, f"{tenant}-a{n}", tenant)
        await routed(js)
        await new.start()
        await until(lambda: all(r.waiting for r in new.routers), "the new count waiting for the old router")
        assert (await new.check()).ok  # waiting is standing by: a rolling update goes on
        for n in range(60):
            await send(js, {"cpu": n}, f"acme-b{n}", "acme")  # routed by the old router, or after it by the new
        await old.stop()  # releases its lease: the new count takes over from its ack floor
        await until(lambda: all(r.running for r in new.routers), "the new count routing")
        for n in range(60):
            for tenant in TENANTS:
                await send(js, {"cpu": n}, f"{tenant}-c{n}", tenant)
        await _all_routed(js, 2)
        names = sorted(info.name for info in await js.consumers_info(subjects.EVENTS_STREAM))
        assert names == ["router-0of2", "router-1of2"]  # the old consumer is gone
        handover = codec.loads((await (await js.key_value(subjects.CONTROL_BUCKET)).get(HANDOVER_KEY)).value or b"")
        assert handover["count"] == 2 and handover["start"] > 1
        log = await work(js, applied=False)
        _assert_once_in_order(
            log, lambda t: [f"{t}-{p}{n}" for p in ("abc" if t == "acme" else "ac") for n in range(60)]
        )
        copies = sum(1 for items in log.values() for _, item in items if isinstance(item, EventWork))
        sent = 2 * len(TENANTS) * 60 + 60
        assert sent <= copies <= sent + 60  # routed again: at most what the old router's last acks had not settled


async def test_a_router_of_another_count_still_holding_its_lease_keeps_the_new_count_waiting(
    broker: NatsServer, js: JetStreamContext
) -> None:
    nc = await nats.connect(broker.url)
    leases = await router_lease_bucket(js, 30)
    held = RouterLease(leases, "old-replica", 30)  # a router of one partition, alive elsewhere
    assert await held.claim()
    await js.add_consumer(subjects.EVENTS_STREAM, durable_name="router")  # its consumer, from an earlier start
    new = Router(nc, default_shards=2, fetch_seconds=0.2, lease_seconds=30, partition=Partition(0, 2))
    try:
        await new.start()
        await until(lambda: new.waiting is not None, "the new count waiting")
        assert "still routing" in (new.waiting or "") and not new.running
        assert [i.name for i in await js.consumers_info(subjects.EVENTS_STREAM)] == ["router"]  # nothing taken
    finally:
        await new.stop()
        await held.release()
        await nc.close()


def _assert_once_in_order(log: dict[int, list[tuple[str, object]]], sent: Callable[[str], list[str]]) -> None:
    """Each tenant's events, applied as a shard applies them (last raw position per tenant), reach the rule's
    shard exactly once, in the order they were sent (`sent(tenant)`)."""
    applied: dict[int, list[str]] = {}
    for shard, items in log.items():
        kept, _ = fresh([item for _, item in items if isinstance(item, EventWork)], RawDone())  # type: ignore[misc]
        applied[shard] = [item.event.event_id for item in kept if isinstance(item, EventWork)]
    for tenant in TENANTS:
        shard = on(RULES[tenant])
        mine = [event_id for event_id in applied.get(shard, []) if event_id.startswith(f"{tenant}-")]
        expected = sent(tenant)
        assert Counter(mine) == Counter(expected), tenant
        assert mine == expected, f"{tenant}: out of order"


async def _connected(cleanup: contextlib.AsyncExitStack, url: str) -> nats.aio.client.Client:
    nc = await nats.connect(url)
    cleanup.push_async_callback(nc.close)
    return nc


Stoppable = TypeVar("Stoppable", Router, RouterPool)


def _stopped_at_end(cleanup: contextlib.AsyncExitStack, runner: Stoppable) -> Stoppable:
    """Stopped when the test ends, before the connections it uses close."""
    cleanup.push_async_callback(runner.stop)
    return runner


def _pool(nc: nats.aio.client.Client, instance: str) -> RouterPool:
    return RouterPool(
        nc, partitions=2, default_shards=2, batch=50, lease_seconds=LEASE, fetch_seconds=0.2, instance=instance
    )


async def _all_routed(js: JetStreamContext, partitions: int, timeout: float = 20) -> None:
    for partition in range(partitions):
        await routed(js, Partition(partition, partitions).durable, timeout)


async def test_while_the_shards_move_no_partition_routes_with_the_new_map_before_every_partition_marked_it(
    broker: NatsServer, js: JetStreamContext
) -> None:
    tenant = next(t for t in TENANTS if partition_of(t, 2) == 0)
    await change(js, RULES[tenant])
    control = await js.key_value(subjects.CONTROL_BUCKET)
    await control.put(subjects.SHARD_MAP_KEY, codec.dumps({"epoch": 2, "shards": 3, "placement": "series", "from": 2}))
    async with contextlib.AsyncExitStack() as cleanup:
        clients = [await _connected(cleanup, broker.url) for _ in range(2)]
        first, second = (
            _stopped_at_end(cleanup, Router(nc, default_shards=2, fetch_seconds=0.2, partition=Partition(k, 2)))
            for k, nc in enumerate(clients)
        )
        await first.start()
        await send(js, {"cpu": 1}, f"{tenant}-x", tenant)
        await until(lambda: first.announced == 2, "partition 0 marking epoch 2")
        await asyncio.sleep(1.0)
        assert not [i for items in (await work(js)).values() for i, _ in items if i.startswith(f"{tenant}-x")]
        assert await marker_cut(js, 2) is None  # the evaluator's cut waits for partition 1 too
        await second.start()
        await _all_routed(js, 2)
        cut = await marker_cut(js, 2)
        marked = [(await js.get_last_msg(subjects.WORK_STREAM, f"cep.work.epoch-{k}")).seq for k in range(2)]
        assert cut == max(marked)  # type: ignore[type-var]
        seqs = [item.seq for items in (await work(js)).values() for i, item in items if i.startswith(f"{tenant}-x")]
        assert seqs and all(seq > cut for seq in seqs)  # type: ignore[operator]
