"""The notifier's durable pull consumers: binding them, fetching from them, in-progress beats while working."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

import nats.errors
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext

from services.common.nats.durable_consumer import Bind, DurableConsumer, Handler
from services.notifier.delivery.retry import Decision

log = logging.getLogger(__name__)

FETCH_WAIT = 1.0  # seconds a pull waits for messages: also how fast a stop is noticed
ALERT_ACK_WAIT = 30.0
# A job in a killed notifier comes back after this; an attempt in progress says so every WORKING_BEAT seconds
# (even a 60 s send), so a slow attempt is never handed to a second worker.
DELIVERY_ACK_WAIT = 15.0
WORKING_BEAT = 5.0
DELIVERY_MAX_DELIVER = 12  # above the most attempts a channel may ask for (10)
# Group, repeat and digest timers wait in the delivery stream unacknowledged (nak'd until due, for hours): a cap on
# unacknowledged jobs would let one tenant's open groups stop every tenant's deliveries. No cap there: held timers
# are bounded by the tenants' series quotas, attempts in flight by `delivery_concurrency` (each fetch asks for no
# more than there is room for).
DELIVERY_MAX_ACK_PENDING = -1
ALERT_MAX_ACK_PENDING = 1000  # alerts and ACK notices are acked as soon as they are taken in


async def bind_consumer(
    js: JetStreamContext,
    stream: str,
    prefix: str,
    durable: str,
    *,
    ack_wait: float = ALERT_ACK_WAIT,
    max_deliver: int = -1,
    max_ack_pending: int = ALERT_MAX_ACK_PENDING,
) -> JetStreamContext.PullSubscription:
    """Bind the durable pull consumer (created with this config the first time)."""
    config = ConsumerConfig(
        durable_name=durable,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=ack_wait,
        max_deliver=max_deliver,
        max_ack_pending=max_ack_pending,
        filter_subject=f"{prefix}.*",
    )
    try:  # create, or bring an existing consumer to this config (an upgrade may change the ack wait or limit)
        await js.add_consumer(stream, config=config)
    except nats.errors.Error as exc:
        log.warning("consumer %s keeps its old config: %s", durable, exc)
    return await js.pull_subscribe(f"{prefix}.*", durable=durable, stream=stream, config=config)


async def fetch(sub: JetStreamContext.PullSubscription, batch: int) -> list[Msg]:
    """Up to `batch` messages, waiting at most FETCH_WAIT; none when there are none.

    Other failures (NATS reconnecting) propagate: the durable consumer loop backs off and binds again.
    """
    try:
        return await sub.fetch(batch, timeout=FETCH_WAIT)
    except nats.errors.TimeoutError:
        return []


def notifier_consumer(name: str, bind: Bind, handler: Handler, batch: int | Callable[[], int]) -> DurableConsumer:
    """One of the notifier's consumers on the common durable consumer loop, fetching with `fetch`."""
    return DurableConsumer(name, bind, fetch, handler, batch=batch)


@contextlib.asynccontextmanager
async def working(msg: Msg) -> AsyncIterator[None]:
    """Tell JetStream the attempt is in progress every WORKING_BEAT seconds while the block runs."""

    async def beat() -> None:
        while True:
            await asyncio.sleep(WORKING_BEAT)
            with contextlib.suppress(Exception):
                await msg.in_progress()

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()


async def settle(msg: Msg, decision: Decision) -> None:
    """Ack the job after a final attempt; nak it after one to retry, redelivered after the decision's backoff."""
    if decision.final:
        await msg.ack_sync()
    else:
        await msg.nak(delay=decision.delay)
