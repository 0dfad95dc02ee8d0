"""Timer jobs in the delivery stream (storm digest windows, group flushes and repeats): each waits, nak'd with a
delay, until it is due, then fires once and is acked; a failed fire comes back a second later."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from nats.aio.msg import Msg

log = logging.getLogger(__name__)


async def fire_when_due(
    msg: Msg, wait: float, fire: Callable[[], Awaitable[Any]], what: str, context: dict[str, Any]
) -> None:
    """Nak `msg` for `wait` seconds while positive; else `fire()`, then ack (or nak for a second on failure)."""
    if wait > 0:
        await msg.nak(delay=wait)
        return
    try:
        await fire()
    except Exception as exc:
        log.warning("%s not published yet (%s)", what, exc, extra=context)
        await msg.nak(delay=1.0)
        return
    await msg.ack_sync()
