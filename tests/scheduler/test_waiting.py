"""The leader loops' wait: until the next due time at most a second, and sooner on a change or a stop."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from services.scheduler.waiting import MAX_SLEEP_SECONDS, sleep_until_due

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


async def _timed(soonest: datetime | None, changed: asyncio.Event, stop: asyncio.Event) -> float:
    began = time.monotonic()
    await sleep_until_due(soonest, NOW, changed, stop)
    return time.monotonic() - began


async def test_it_waits_until_the_soonest_due_time_and_never_longer_than_the_cap() -> None:
    changed, stop = asyncio.Event(), asyncio.Event()
    assert 0.15 <= await _timed(NOW + timedelta(seconds=0.2), changed, stop) < MAX_SLEEP_SECONDS
    assert MAX_SLEEP_SECONDS - 0.05 <= await _timed(NOW + timedelta(hours=1), changed, stop) < MAX_SLEEP_SECONDS + 0.5
    assert await _timed(NOW - timedelta(seconds=5), changed, stop) < 0.05  # already due: no wait


async def test_a_change_or_a_stop_ends_the_wait() -> None:
    for which in ("changed", "stop"):
        changed, stop = asyncio.Event(), asyncio.Event()
        event = changed if which == "changed" else stop
        asyncio.get_running_loop().call_later(0.05, event.set)
        assert await _timed(None, changed, stop) < 0.5, which
