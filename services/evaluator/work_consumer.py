"""A shard's durable pull consumer on CEP_WORK: (re)created at a stream sequence, fetched in batches, in order."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

import nats.errors
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError

from services.common.nats import subjects

log = logging.getLogger(__name__)

INFO_TIMEOUT = 2.0
MAX_ACK_PENDING = 20_000


@dataclass(frozen=True)
class Pending:
    """Work not yet done: messages not delivered yet, and delivered but not acknowledged."""

    pending: int
    ack_pending: int

    @property
    def total(self) -> int:
        return self.pending + self.ack_pending


class OutOfOrder(RuntimeError):
    """A delivery skipped a consumer sequence (a message got lost on the way): resume from the last one done."""


class ShardConsumer:
    """The durable `shard-<n>` consumer, filtered to `cep.work.<n>`; `reset` replays from a given sequence.

    Every delivery must carry the next consumer sequence; a gap means a message was delivered but never
    reached us, and processing past it would reorder the shard's input, so `check_order` raises OutOfOrder.
    """

    def __init__(self, js: JetStreamContext, shard: int, ack_wait: float) -> None:
        self.js = js
        self.shard = shard
        self.name = subjects.shard_consumer(shard)
        self.ack_wait = ack_wait
        self._sub: JetStreamContext.PullSubscription | None = None
        self._delivered = 0

    async def reset(self, start_seq: int) -> None:
        """Delete the durable and create it again at `start_seq`, so everything after it is delivered, acked or not."""
        await self.close()
        with contextlib.suppress(NotFoundError):
            await self.js.delete_consumer(subjects.WORK_STREAM, self.name)
        config = ConsumerConfig(
            durable_name=self.name,
            filter_subject=subjects.work_subject(self.shard),
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=max(1, start_seq),
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait,
            max_ack_pending=MAX_ACK_PENDING,
        )
        await self.js.add_consumer(subjects.WORK_STREAM, config)
        self._sub = await self.js.pull_subscribe_bind(self.name, stream=subjects.WORK_STREAM)
        self._delivered = 0
        log.info("shard consumer %s starts at sequence %d", self.name, start_seq, extra={"shard": self.shard})

    async def fetch(self, batch: int, timeout: float) -> list[Msg]:
        """Up to `batch` messages (fewer when fewer are there); an empty list when none came within `timeout`."""
        if self._sub is None:
            raise RuntimeError("the shard consumer is not created")
        try:
            return await self._sub.fetch(batch, timeout=timeout)
        except (TimeoutError, nats.errors.TimeoutError):
            return []

    def check_order(self, msg: Msg) -> None:
        """Accept the next delivery, or raise OutOfOrder when one was skipped."""
        consumer_seq = msg.metadata.sequence.consumer
        if consumer_seq != self._delivered + 1:
            raise OutOfOrder(f"expected delivery {self._delivered + 1}, got {consumer_seq}")
        self._delivered = consumer_seq

    async def pending(self) -> Pending | None:
        """How much work waits (from consumer info), or None when the server does not say in time."""
        try:
            info = await self.js.consumer_info(subjects.WORK_STREAM, self.name, timeout=INFO_TIMEOUT)
        except Exception:
            return None
        return Pending(int(info.num_pending or 0), int(info.num_ack_pending or 0))

    async def close(self) -> None:
        """Unsubscribe our inbox (the durable stays: a restart replaces it)."""
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None
