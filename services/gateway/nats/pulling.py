"""Pull consumers for the gateway: low-latency batch fetches, and its recorders on the common durable consumer loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext
from nats.js.errors import FetchTimeoutError

from services.common.nats.durable_consumer import DurableConsumer, Handler
from services.common.ops import CheckResult
from services.gateway.nats.bus import GatewayBus

RECONNECT_POLL_SECONDS = 0.2


class ConsumerSilent(Exception):
    """A fetch got no answer at all, not even the idle heartbeats it asked for: the consumer (or server) is gone."""


async def fetch_batch(sub: JetStreamContext.PullSubscription, nc: Client, max_batch: int, wait: float) -> list[Msg]:
    """Up to `max_batch` messages, returned as soon as one is there ([] after `wait` seconds without any).

    nats-py's `fetch(n)` holds a lingering request open until n messages or the timeout: a lone message
    would wait the whole timeout. So: wait for one, then take what the consumer says is already pending.
    The wait asks for idle heartbeats, so a consumer that vanished (a broker restart) raises ConsumerSilent
    instead of looking idle forever, and a reconnect (whose pull request died with the old connection)
    raises it at once.
    """
    try:
        first = await _unless_reconnected(nc, sub.fetch(1, timeout=wait, heartbeat=max(wait / 5, 0.1)))
    except FetchTimeoutError:
        return []  # the server answered (heartbeats): simply nothing to fetch
    except TimeoutError:
        raise ConsumerSilent(f"no answer from consumer within {wait:g}s") from None
    pending = first[-1].metadata.num_pending if first else 0
    if not pending or max_batch <= 1:
        return first
    try:
        return first + await sub.fetch(min(pending, max_batch - 1), timeout=1.0)
    except TimeoutError:
        return first


async def _unless_reconnected(nc: Client, fetch: Coroutine[Any, Any, list[Msg]]) -> list[Msg]:
    reconnects = nc.stats["reconnects"]
    task = asyncio.ensure_future(fetch)
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=RECONNECT_POLL_SECONDS)
            if not task.done() and nc.stats["reconnects"] != reconnects:
                raise ConsumerSilent("reconnected to NATS: the pending fetch died with the old connection")
        return task.result()
    finally:
        if not task.done():  # we were cancelled or gave up: never leave the fetch running on its own
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def gateway_consumer(
    bus: GatewayBus, stream: str, config: ConsumerConfig, handler: Handler, *, batch: int = 256, wait: float = 5.0
) -> DurableConsumer:
    """The common durable consumer loop on `stream`, bound once the bus is connected, fetching with `fetch_batch`."""
    assert config.durable_name and config.filter_subject
    name, subject = str(config.durable_name), str(config.filter_subject)

    async def bind() -> JetStreamContext.PullSubscription:
        await bus.wait_ready()
        return await bus.js.pull_subscribe(subject, durable=name, stream=stream, config=config)

    async def fetch(sub: JetStreamContext.PullSubscription, size: int) -> list[Msg]:
        return await fetch_batch(sub, bus.client, size, wait)

    return DurableConsumer(name, bind, fetch, handler, batch=batch)


def recorder_config(durable: str, filter_subject: str, ack_wait: float) -> ConsumerConfig:
    """A recorder's durable consumer: every message from the start, acked explicitly after its SQL commit."""
    return ConsumerConfig(
        durable_name=durable,
        filter_subject=filter_subject,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=ack_wait,
        max_ack_pending=4096,
    )


class ConsumerComponent:
    """A gateway component running one DurableConsumer's loop: started and stopped with the app, ready while bound."""

    def __init__(self, consumer: DurableConsumer, task_name: str) -> None:
        self.consumer = consumer
        self.task_name = task_name
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self.consumer.run(self._stop), name=self.task_name)

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def check(self) -> CheckResult:
        return CheckResult(self.consumer.bound, {"consumer": self.consumer.name, "bound": self.consumer.bound})
