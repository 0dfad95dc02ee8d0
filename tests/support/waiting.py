"""Waiting in tests: poll a probe until it gives something truthy, and fail naming what was awaited after a timeout.

`eventually` for blocking tests (e2e against a `cep up` over HTTP), `eventually_async` for a coroutine probe polled
on the event loop. Each returns or fails within its timeout plus one probe; a probe that raises fails the test at
once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(probe: Callable[[], T | None], timeout: float = 30.0, what: str = "", every: float = 0.1) -> T:
    """The first truthy value `probe()` returns, polled every `every` seconds; AssertionError after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or 'the condition'} (last {value!r})")
        time.sleep(every)


async def eventually_async(
    probe: Callable[[], Awaitable[T | None]], timeout: float = 30.0, what: str = "", every: float = 0.05
) -> T:
    """`eventually` for a coroutine probe, sleeping on the event loop between tries."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or 'the condition'} (last {value!r})")
        await asyncio.sleep(every)
