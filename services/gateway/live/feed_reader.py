"""Reading a tenant's feed stream for one SSE client: an ephemeral consumer from a sequence, deleted on exit.

The SSE `id:` is the feed stream sequence, so `Last-Event-ID: n` resumes at n + 1 (every later message,
none at or before n); without it only messages published after the connection are sent. If the consumer
is lost (a NATS restart), it is recreated after the last sequence sent, so the client sees no gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext

from services.common.messages import codec
from services.common.messages import feed as feed_messages
from services.common.nats import subjects
from services.common.nats.dead_letters import dead_letter_undecodable
from services.gateway.live.feed import Feed
from services.gateway.nats.bus import GatewayBus
from services.gateway.nats.pulling import fetch_batch

log = logging.getLogger(__name__)

BATCH = 100
WAIT_SECONDS = 5.0
RETRY_SECONDS = 0.5
# A consumer whose gateway died without deleting it is removed by the server after this long.
INACTIVE_SECONDS = 60.0
READER = "feed-reader"  # the consumer a feed message that does not decode is dead-lettered as (once per message)


@dataclass(frozen=True)
class FeedMessage:
    """One message of the feed (messages/feed.py) as the SSE route sends it: `seq` is the `id:`, `kind` the `event:`."""

    seq: int
    kind: str
    data: str


class FeedReader:
    """Yields a tenant's feed messages after `after` (or only new ones when None), until the caller stops."""

    def __init__(self, bus: GatewayBus, feed: Feed, tenant: str, after: int | None) -> None:
        self.bus = bus
        self.feed = feed
        self.tenant = tenant
        self.last = after
        self._sub: JetStreamContext.PullSubscription | None = None
        self._stream = subjects.feed_stream(tenant)

    async def open(self) -> None:
        """Create the consumer (raises the bus's 503 Problem while NATS is down)."""
        js = self.bus.js
        self._stream = await self.feed.stream_for(self.tenant)
        config = ConsumerConfig(
            ack_policy=AckPolicy.NONE,
            inactive_threshold=INACTIVE_SECONDS,
            mem_storage=True,
            num_replicas=1,
        )
        if self.last is None:
            config.deliver_policy = DeliverPolicy.NEW
        else:
            config.deliver_policy = DeliverPolicy.BY_START_SEQUENCE
            config.opt_start_seq = self.last + 1
        self._sub = await js.pull_subscribe(subjects.feed_subject(self.tenant), stream=self._stream, config=config)

    async def messages(self) -> AsyncIterator[FeedMessage]:
        """The messages, in stream order; reconnects the consumer after failures; ends only when cancelled."""
        try:
            if self._sub is None:
                await self.open()
            while True:
                assert self._sub is not None
                try:
                    msgs = await fetch_batch(self._sub, self.bus.client, BATCH, WAIT_SECONDS)
                except Exception as exc:
                    log.info("feed consumer of %s failed (%s); recreating after seq %s", self.tenant, exc, self.last)
                    await self._reopen()
                    continue
                for msg in msgs:
                    seq = msg.metadata.sequence.stream
                    if self.last is not None and seq <= self.last:
                        continue
                    self.last = seq
                    try:
                        body = codec.loads(msg.data)
                        wire = feed_messages.FeedMessage.decode(body)
                    except ValueError as exc:  # MessageError names the field; not JSON at all is reported too
                        await dead_letter_undecodable(self.bus.js, READER, msg, str(exc))
                        continue
                    yield FeedMessage(seq, wire.type, codec.dumps(body["event"]).decode())
        finally:
            with anyio.CancelScope(shield=True):  # the client is gone: clean up even though we are cancelled
                await self.close()

    async def _reopen(self) -> None:
        await self.close()
        while True:
            await asyncio.sleep(RETRY_SECONDS)
            try:
                await self.open()
                return
            except Exception as exc:
                log.debug("feed consumer of %s not recreated yet: %s", self.tenant, exc)

    async def close(self) -> None:
        """Delete the consumer and drop the subscription (best effort: the server expires it anyway)."""
        sub, self._sub = self._sub, None
        if sub is None:
            return
        name = getattr(sub, "_consumer", None)
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
        if name:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.bus.js.delete_consumer(self._stream, name), 2.0)
