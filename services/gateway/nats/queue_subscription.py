"""A gateway component's subscription to a request subject in a queue group, so gateway replicas share the requests.

It is made once NATS is up (retried if the connection drops in between); nats-py re-subscribes after a reconnect,
so one subscription lasts the connection's life. Used by the auth callout responder and the daily-report answerer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from services.gateway.nats.bus import GatewayBus

log = logging.getLogger(__name__)

Handler = Callable[[Msg], Awaitable[None]]


class QueueSubscription:
    def __init__(self, bus: GatewayBus, subject: str, queue: str, name: str, handler: Handler) -> None:
        self.bus = bus
        self.subject = subject
        self.queue = queue
        self.name = name
        self.handler = handler
        self._task: asyncio.Task[None] | None = None
        self._sub: Subscription | None = None

    @property
    def subscribed(self) -> bool:
        return self._sub is not None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._subscribe(), name=self.name)

    async def _subscribe(self) -> None:
        while self._sub is None:
            await self.bus.wait_ready()
            try:
                self._sub = await self.bus.client.subscribe(self.subject, queue=self.queue, cb=self.handler)
            except Exception as exc:  # dropped between ready and subscribe: try again; readiness says why
                log.warning("%s: subscribing failed: %s", self.name, exc)
                await asyncio.sleep(0.5)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
