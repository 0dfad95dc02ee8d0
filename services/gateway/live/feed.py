"""The live feed: recorded changes published to the tenant's feed stream after their SQL commit, exactly once.

Every change (alert transition, delivery result, ACK) is a transitions row with `fed = false` when it commits;
the feed message goes out with `Nats-Msg-Id` = row id + `:feed` (JetStream drops a re-publish within its
duplicate window), then the row is marked fed. A crash or a NATS outage in between leaves rows unfed, and
`publish_unfed` sends them later, so the SSE stream misses nothing. One lock orders commit-then-publish
sections in this process, so the feed's order is the order the changes were applied in: a section holds it for
the commit and `send` (the messages queued on the connection, in order) and may `confirm` (PubAcks, rows marked
fed) after letting it go, so the next commit does not wait for the last one's PubAcks.
An ACK also goes out as an ACK notice on `cep.acks.<tenant>` (same guarantee), which the notifier turns into
`acknowledge` deliveries for incident channels.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from services.common.db.sql_engine import Database
from services.common.nats import subjects
from services.common.nats.streams import ensure_feed_stream
from services.gateway.nats.bus import GatewayBus
from services.gateway.store import events as store
from services.gateway.store.events import FeedItem

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT_SECONDS = 5.0
SWEEP_BATCH = 500


@dataclass(frozen=True)
class Sent:
    """Feed messages queued on the connection (`Feed.send`): the rows they stand for, their PubAck futures."""

    ids: list[str]
    futures: list[asyncio.Future[Any]]


class Feed:
    """Publishes FeedItems to `cep.feed.<tenant>` and marks them fed; `lock` spans commit + publish."""

    def __init__(self, bus: GatewayBus, db: Database) -> None:
        self.bus = bus
        self.db = db
        self.lock = asyncio.Lock()
        self._streams: set[str] = set()
        self._sending: set[str] = set()  # rows sent and not yet confirmed: the sweep leaves them to `confirm`

    async def stream_for(self, tenant: str) -> str:
        """The tenant's feed stream, declared on first use by this process."""
        name = subjects.feed_stream(tenant)
        if name not in self._streams:
            await ensure_feed_stream(self.bus.js, tenant)
            self._streams.add(name)
        return name

    async def publish(self, items: Sequence[FeedItem]) -> None:
        """Publish in order (pipelined, one PubAck wait for all), then mark the rows fed; raises when NATS fails.
        The caller holds `lock` (it committed the items under it)."""
        await self.confirm(await self.send(items), locked=False)

    async def send(self, items: Sequence[FeedItem]) -> Sent:
        """Queue the items' messages on the connection, in order, without waiting for their PubAcks: called under
        `lock` right after the commit, this fixes their place in the feed. `confirm` finishes, outside the lock."""
        if not items:
            return Sent([], [])
        js = self.bus.js
        for tenant in {item.tenant for item in items}:
            await self.stream_for(tenant)
        futures = []
        ids = [item.transition_id for item in items]
        self._sending.update(ids)
        try:
            for item in items:
                headers = {subjects.MSG_ID: f"{item.transition_id}:feed"}
                subject = subjects.feed_subject(item.tenant)
                futures.append(await js.publish_async(subject, item.message, headers=headers))
                if item.kind == "acked":  # the notifier tells incident channels (PagerDuty) about ACKs
                    notice = {subjects.MSG_ID: item.transition_id}
                    subject = subjects.acks_subject(item.tenant)
                    futures.append(await js.publish_async(subject, item.message, headers=notice))
        except BaseException:
            self._sending.difference_update(ids)
            for future in futures:
                future.cancel()
            raise
        return Sent(ids, futures)

    async def confirm(self, sent: Sent, *, locked: bool = True) -> None:
        """Wait for the PubAcks of what `send` queued, then mark the rows fed; raises when NATS fails (the rows stay
        unfed: `publish_unfed` sends them again). The mark takes `lock` unless the caller holds it (`locked`
        False), so this process's feed writes queue here rather than in SQLite's busy handler."""
        if not sent.ids:
            return
        try:
            try:
                await asyncio.wait_for(asyncio.gather(*sent.futures), PUBLISH_TIMEOUT_SECONDS)
            except BaseException:
                self._streams.clear()  # a stream deleted under us is declared again on the next try
                raise
            async with self.lock if locked else contextlib.nullcontext(), self.db.write() as session:
                await store.mark_fed(session, sent.ids)
        finally:
            self._sending.difference_update(sent.ids)

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
                fresh = [item for item in items if item.transition_id not in self._sending]
                await self.publish(fresh)
            sent += len(fresh)
            if len(items) < SWEEP_BATCH or not fresh:  # the rest is being confirmed: not sent twice
                return sent
