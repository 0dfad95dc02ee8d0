"""The NATS adapter: one connection per process, reconnecting forever, with a readiness check."""

from __future__ import annotations

import asyncio
import logging

import nats
import nats.errors
from nats.aio.client import Client

from services.common.ops import CheckResult

log = logging.getLogger(__name__)


async def connect(url: str, name: str, retry_seconds: float = 0.5) -> Client:
    """Connect to NATS, retrying until the server answers; later drops reconnect without limit."""
    while True:
        try:
            return await _connect_once(url, name)
        except (OSError, nats.errors.NoServersError, TimeoutError) as exc:
            log.warning("nats not reachable at %s (%s); retrying", url, exc)
            await asyncio.sleep(retry_seconds)


async def _connect_once(url: str, name: str) -> Client:

    async def on_error(exc: Exception) -> None:
        log.warning("nats error: %s", exc)

    async def on_disconnect() -> None:
        log.warning("nats disconnected")

    async def on_reconnect() -> None:
        log.info("nats reconnected")

    return await nats.connect(
        servers=[url],
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=2,
        allow_reconnect=True,
        error_cb=on_error,
        disconnected_cb=on_disconnect,
        reconnected_cb=on_reconnect,
    )


async def check_connected(client: Client | None) -> CheckResult:
    """Ready when the process holds a connected NATS client."""
    if client is None or not client.is_connected:
        return CheckResult(False, "not connected to NATS")
    url = client.connected_url
    return CheckResult(True, {"server": url.netloc if url else None})
