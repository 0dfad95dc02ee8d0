"""The routers of one ingest replica: one per router partition, sharing the partitions out with the other replicas.

Each partition has a lease (services/common/nats/router_partitions.py); a replica's router for it routes while
holding it. Replicas say they are alive by a key of their own in the router lease bucket (`replica.<instance>`,
renewed every quarter lease period, expiring with the bucket's TTL), and each takes at most its fair share of the
partitions, ceil(partitions / live replicas): a replica above it (another one started) releases its highest
partition after the batch in flight, and one below it claims free ones. A dead replica's partitions are claimed
once its leases expire, by the replicas below their share (its key expires with them, so the shares grow).
With one partition this is the active/standby router of earlier versions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import re
import socket

from nats.aio.client import Client
from nats.js.errors import NoKeysError

from services.common.nats.durable_consumer import pause
from services.common.nats.lease import router_lease_bucket
from services.common.nats.router_partitions import every_partition
from services.common.ops import CheckResult
from services.ingest.router import FETCH_SECONDS, Router

log = logging.getLogger(__name__)

REPLICA_PREFIX = "replica."


class RouterPool:
    """Routes the partitions this replica holds; `check()` is ready while each is routing or standing by."""

    def __init__(
        self,
        nc: Client,
        *,
        partitions: int,
        default_shards: int,
        batch: int,
        lease_seconds: float,
        instance: str = "",
        fetch_seconds: float = FETCH_SECONDS,
    ) -> None:
        self.nc = nc
        self.instance = instance or f"{socket.gethostname()}-{os.getpid()}"
        self.lease_seconds = lease_seconds
        self.replicas = 1  # live replicas, as last counted
        self.routers = [
            Router(
                nc,
                default_shards=default_shards,
                batch=batch,
                lease_seconds=lease_seconds,
                instance=self.instance,
                partition=partition,
                share=self if partitions > 1 else None,
                fetch_seconds=fetch_seconds,
            )
            for partition in every_partition(partitions)
        ]
        self._stop = asyncio.Event()
        self._beat: asyncio.Task[None] | None = None

    @property
    def held(self) -> list[Router]:
        return [router for router in self.routers if router.lease is not None and router.lease.held]

    def fair_share(self) -> int:
        return math.ceil(len(self.routers) / max(1, self.replicas))

    def may_claim(self, router: Router) -> bool:
        return len(self.held) < self.fair_share()

    def should_release(self, router: Router) -> bool:
        held = self.held
        return len(held) > self.fair_share() and router is max(held, key=lambda r: r.partition.index)

    async def start(self) -> None:
        self._stop.clear()
        if len(self.routers) > 1:
            self._beat = asyncio.create_task(self._heartbeat(), name="router-replicas")
        for router in self.routers:
            await router.start()

    async def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        await asyncio.gather(*(router.stop(timeout) for router in self.routers))
        if self._beat is not None:
            await asyncio.gather(self._beat, return_exceptions=True)
            self._beat = None

    async def check(self) -> CheckResult:
        results = [await router.check() for router in self.routers]
        if len(results) == 1:
            return results[0]
        detail = {
            "replicas": self.replicas,
            "routing": [router.partition.index for router in self.routers if router.running],
            "partitions": {
                str(r.partition.index): result.detail for r, result in zip(self.routers, results, strict=True)
            },
        }
        return CheckResult(all(result.ok for result in results), detail)

    async def _heartbeat(self) -> None:
        """Keep this replica's key alive and count the live replicas, every quarter lease period."""
        key = REPLICA_PREFIX + re.sub(r"[^-/_=.a-zA-Z0-9]", "_", self.instance)
        kv = None
        while not self._stop.is_set():
            try:
                if kv is None:
                    kv = await router_lease_bucket(self.nc.jetstream(), self.lease_seconds)
                await kv.put(key, b"{}")
                try:
                    live = [k for k in await kv.keys() if k.startswith(REPLICA_PREFIX)]
                except NoKeysError:
                    live = []
                if max(1, len(live)) != self.replicas:
                    log.info(
                        "router partitions: %d live ingest replica(s), a share of %d", len(live), len(self.routers)
                    )
                self.replicas = max(1, len(live))
            except Exception as exc:  # NATS failing: keep the last count, the leases decide who routes
                log.warning("router replica heartbeat failed: %s", exc)
            await pause(self._stop, self.lease_seconds / 4)
        if kv is not None:
            with contextlib.suppress(Exception):
                await kv.delete(key)
