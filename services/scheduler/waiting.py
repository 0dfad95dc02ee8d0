"""How the leader's loops wait: until the next due time, or sooner when what they watch changes or they stop."""

from __future__ import annotations

import asyncio
from datetime import datetime

MAX_SLEEP_SECONDS = 1.0  # look at the lease and what is watched at least this often


async def sleep_until_due(soonest: datetime | None, now: datetime, changed: asyncio.Event, stop: asyncio.Event) -> None:
    """Wait until `soonest` (at most MAX_SLEEP_SECONDS), or until `changed` or `stop` is set.

    When something is due already, it only yields once to the other tasks.
    """
    wait = MAX_SLEEP_SECONDS
    if soonest is not None:
        wait = min(wait, max((soonest - now).total_seconds(), 0.0))
    if wait <= 0:
        await asyncio.sleep(0)
        return
    changed_waiter = asyncio.ensure_future(changed.wait())
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({changed_waiter, stopped}, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
    finally:
        changed_waiter.cancel()
        stopped.cancel()
