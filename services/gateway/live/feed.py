"""The live feed: recorded changes published to the tenant's feed stream after their SQL commit, exactly once.

Every change (alert transition, delivery result, ACK) is a transitions row with `fed = false` when it commits;
the feed message goes out with `Nats-Msg-Id` = row id + `:feed` (JetStream drops a re-publish within its
duplicate window), then the row is marked fed. A crash or a NATS outage in between leaves rows unfed, and
`publish_unfed` sends them later, so the SSE stream misses nothing. One lock orders commit-then-publish
sections in this process, so the feed's order is the order the changes were applied in.
An ACK also goes out as an ACK notice on `cep.acks.<tenant>` (same guarantee), which the notifier turns into
`acknowledge` deliveries for incident channels.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from services.common.db.sql_engine import Database
from services.common.nats import subjects
from services.common.nats.streams import ensure_feed_stream
from services.gateway.nats.bus import GatewayBus
from services.gateway.store import events as store
from services.gateway.store.events import FeedItem

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT_SECONDS = 5.0
SWEEP_BATCH = 500


class Feed:
    """Publishes FeedItems to `cep.feed.<tenant>` and marks them fed; `lock` spans commit + publish."""

    def __init__(self, bus: GatewayBus, db: Database) -> None:
        self.bus = bus
        self.db = db
        self.lock = asyncio.Lock()
        self._streams: set[str] = set()

    async def stream_for(self, tenant: str) -> str:
        """The tenant's feed stream, declared on first use by this process."""
        name = subjects.feed_stream(tenant)
        if name not in self._streams:
            await ensure_feed_stream(self.bus.js, tenant)
            self._streams.add(name)
        return name

    async def publish(self, items: Sequence[FeedItem]) -> None:
        """Publish in order (pipelined, one PubAck wait for all), then mark the rows fed; raises when NATS fails."""
        if not items:
            return
        js = self.bus.js
        for tenant in {item.tenant for item in items}:
            await self.stream_for(tenant)
        futures = []
        for item in items:
            headers = {subjects.MSG_ID: f"{item.transition_id}:feed"}
            futures.append(await js.publish_async(subjects.feed_subject(item.tenant), item.message, headers=headers))
            if item.kind == "acked":  # the notifier tells incident channels (PagerDuty) about ACKs
                notice = {subjects.MSG_ID: item.transition_id}
                futures.append(await js.publish_async(subjects.acks_subject(item.tenant), item.message, headers=notice))
        try:
            await asyncio.wait_for(asyncio.gather(*futures), PUBLISH_TIMEOUT_SECONDS)
        except Exception:
            self._streams.clear()  # a stream deleted under us is declared again on the next try
            raise
        async with self.db.write() as session:
            await store.mark_fed(session, [item.transition_id for item in items])

    async def publish_quietly(self, items: Sequence[FeedItem]) -> None:
        """Publish, but leave failures to the recorder's sweep (the change itself is already committed)."""
        try:
            await self.publish(items)
        except Exception as exc:
            log.warning("feed publish failed, the recorder will retry: %s", exc)

    async def publish_unfed(self) -> int:
        """Send every committed change whose feed message has not gone out; return how many were sent."""
        sent = 0
        while True:
            async with self.lock:
                async with self.db.read() as session:
                    items = await store.unfed(session, SWEEP_BATCH)
                await self.publish(items)
            sent += len(items)
            if len(items) < SWEEP_BATCH:
                return sent
