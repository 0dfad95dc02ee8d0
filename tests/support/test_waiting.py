"""The waiting helpers: the first truthy value, or a failure naming what was awaited."""

from __future__ import annotations

import itertools

import pytest

from tests.support.waiting import eventually, eventually_async


def test_eventually_returns_the_first_truthy_value_and_names_what_timed_out() -> None:
    tries = itertools.count()
    assert eventually(lambda: next(tries) >= 2 and "ready", timeout=5, every=0.01) == "ready"
    with pytest.raises(AssertionError, match="waiting for the queue to drain"):
        eventually(lambda: None, timeout=0.05, what="the queue to drain", every=0.01)


async def test_eventually_async_polls_a_coroutine_probe() -> None:
    tries = itertools.count()

    async def probe() -> list[int]:
        return [1] if next(tries) >= 2 else []

    assert await eventually_async(probe, timeout=5, every=0.01) == [1]

    async def never() -> None:
        return None

    with pytest.raises(AssertionError, match=r"timed out after 0\.05s"):
        await eventually_async(never, timeout=0.05, every=0.01)
