"""The gateway's NATS connection: connected in the background at start, declared streams, 503 while down."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os

from nats.aio.client import Client
from nats.js.client import JetStreamContext

from services.common.nats import bus
from services.common.nats.streams import ensure_streams
from services.common.ops import CheckResult
from services.gateway.rest.problems import Problem

log = logging.getLogger(__name__)


class GatewayBus:
    """Holds the NATS client and JetStream context; routes that need them get a 503 until connected."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._connect(), name="gateway-nats")

    async def _connect(self) -> None:
        self.nc = await bus.connect(self.url, f"cep-gateway-{os.getpid()}")
        js = self.nc.jetstream()
        while True:
            try:
                await ensure_streams(js)
                break
            except Exception as exc:  # JetStream may still be starting; keep trying, readiness says why
                log.warning("declaring streams failed: %s", exc)
                await asyncio.sleep(0.5)
        self._js = js
        self._ready.set()

    @property
    def is_ready(self) -> bool:
        return self._ready.is_set()

    async def wait_ready(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._ready.wait(), timeout)

    @property
    def js(self) -> JetStreamContext:
        """The JetStream context, or a 503 problem while NATS is not reachable."""
        if self._js is None or self.nc is None or not self.nc.is_connected:
            raise Problem(
                503,
                "the message bus (NATS) is not reachable; retry shortly",
                kind="unavailable",
                headers={"Retry-After": "1"},
            )
        return self._js

    @property
    def client(self) -> Client:
        if self.nc is None or not self.nc.is_connected:
            raise Problem(
                503,
                "the message bus (NATS) is not reachable; retry shortly",
                kind="unavailable",
                headers={"Retry-After": "1"},
            )
        return self.nc

    async def check(self) -> CheckResult:
        if not self._ready.is_set():
            return CheckResult(False, "connecting to NATS / declaring streams")
        return await bus.check_connected(self.nc)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self.nc is not None and not self.nc.is_closed:
            with contextlib.suppress(Exception):
                await self.nc.drain()
