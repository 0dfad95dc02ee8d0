"""The NATS adapter: one connection per process, reconnecting forever, with a readiness check."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit

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
            log.warning("nats not reachable at %s (%s); retrying", server_address(url), exc)
            await asyncio.sleep(retry_seconds)


def server_address(url: str) -> str:
    """`host:port` of a NATS URL, for logs and readiness: the URL may carry the internal user's password."""
    parts = urlsplit(url if "://" in url else f"nats://{url}")
    return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)


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
    return CheckResult(True, {"server": server_address(url.geturl()) if url else None})
