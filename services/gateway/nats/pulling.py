"""Pull consumers for the gateway: low-latency batch fetches, and a durable consumer loop stopped by an Event."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext
from nats.js.errors import FetchTimeoutError

from services.common.ops import CheckResult
from services.gateway.nats.bus import GatewayBus

log = logging.getLogger(__name__)

T = TypeVar("T")
Handler = Callable[[list[Msg]], Awaitable[None]]
RETRY_SECONDS = 0.5
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


async def until_stopped(stop: asyncio.Event, work: Coroutine[Any, Any, T]) -> T | None:
    """Run `work` unless `stop` is set first, in which case it is cancelled and None returned.

    Only for NATS waits (fetches, connects): SQL work is never cancelled, aiosqlite can hang on it.
    """
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            return task.result()
        return None
    finally:
        stopper.cancel()
        if not task.done():  # stopped, or we were cancelled ourselves: the work must not run on alone
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


class DurableConsumer:
    """A durable pull consumer on `stream` handing batches to `handler` until stopped.

    The handler acks (or naks) its own messages after its effect is durable; an exception in it is logged
    and the loop goes on (unacked messages come back after the consumer's `ack_wait`).
    """

    def __init__(
        self,
        bus: GatewayBus,
        stream: str,
        config: ConsumerConfig,
        handler: Handler,
        *,
        batch: int = 256,
        wait: float = 5.0,
    ) -> None:
        assert config.durable_name and config.filter_subject
        self.bus = bus
        self.stream = stream
        self.config = config
        self.handler = handler
        self.batch = batch
        self.wait = wait
        self.bound = False

    @property
    def name(self) -> str:
        return str(self.config.durable_name)

    async def run(self, stop: asyncio.Event) -> None:
        """Bind (again after failures) and consume until `stop` is set."""
        while not stop.is_set():
            sub: JetStreamContext.PullSubscription | None = None
            try:
                await until_stopped(stop, self.bus.wait_ready())
                if stop.is_set():
                    return
                sub = await self._bind()
                self.bound = True
                await self._consume(sub, stop)
            except Exception as exc:
                log.warning("consumer %s on %s failed, rebinding: %s", self.name, self.stream, exc)
                self.bound = False
                await until_stopped(stop, asyncio.sleep(RETRY_SECONDS))
            finally:
                if sub is not None:
                    with contextlib.suppress(Exception):
                        await sub.unsubscribe()
        self.bound = False

    async def _bind(self) -> JetStreamContext.PullSubscription:
        js = self.bus.js
        return await js.pull_subscribe(
            str(self.config.filter_subject), durable=self.name, stream=self.stream, config=self.config
        )

    async def _consume(self, sub: JetStreamContext.PullSubscription, stop: asyncio.Event) -> None:
        while not stop.is_set():
            msgs = await until_stopped(stop, fetch_batch(sub, self.bus.client, self.batch, self.wait))
            if msgs:
                await self.handler(msgs)  # never cancelled: it writes SQL


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
