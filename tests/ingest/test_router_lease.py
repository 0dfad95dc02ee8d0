"""Router replicas: one holds the lease and routes, the other stands by (ready) and takes over when it goes."""

from __future__ import annotations

import time
from collections import Counter

import nats
from nats.js.client import JetStreamContext

from services.ingest.router import Router
from tests.ingest.test_router import CPU, broker, change, ids, js, on, routed, send, until, work
from tests.support.nats import NatsServer

__all__ = ["broker", "js"]  # the fixtures, shared with the router tests

LEASE = 1.0


async def test_one_replica_routes_and_the_standby_takes_over(broker: NatsServer, js: JetStreamContext) -> None:
    await change(js, CPU)
    clients = [await nats.connect(broker.url) for _ in range(2)]
    first, second = (Router(nc, default_shards=2, fetch_seconds=0.2, lease_seconds=LEASE) for nc in clients)
    try:
        await first.start()
        await until(lambda: first.running, "the first replica routing")
        await second.start()
        await until(lambda: second.standby, "the second replica standing by")
        assert (await second.check()).ok  # a standby is ready: it is what makes the pair available
        for n in range(50):
            await send(js, {"cpu": n}, f"a{n}")
        await routed(js)

        await first.stop()  # a clean stop releases the lease: the standby takes it at its next try
        began = time.monotonic()
        await until(lambda: second.running, "the standby taking over")
        assert time.monotonic() - began < LEASE and not second.standby
        for n in range(50):
            await send(js, {"cpu": n}, f"b{n}")
        await routed(js)
        shard = on(CPU)
        counts = Counter(ids(await work(js))[shard])
        assert all(counts[f"{p}{n}:{shard}"] == 1 for p in "ab" for n in range(50))
        assert first.stats.messages > 0 and second.stats.messages > 0  # each routed its share, nothing twice
    finally:
        await second.stop()
        await first.stop()
        for nc in clients:
            await nc.close()
