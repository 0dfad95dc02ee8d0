"""The one durable pull-consumer loop: bind, fetch a batch, hand it over, back off after failures, stop on an Event."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from nats.aio.msg import Msg
from nats.js.client import JetStreamContext

from services.common.ops import CheckResult

log = logging.getLogger(__name__)

T = TypeVar("T")
PullSubscription = JetStreamContext.PullSubscription
Bind = Callable[[], Awaitable[PullSubscription]]
Fetch = Callable[[PullSubscription, int], Awaitable[list[Msg]]]
Handler = Callable[[list[Msg]], Awaitable[None]]

RETRY_FIRST_SECONDS = 0.2  # the back-off after a first failure
RETRY_MAX_SECONDS = 5.0  # the back-off doubles up to this while failures go on


class Backoff:
    """Exponential back-off: RETRY_FIRST_SECONDS, doubled after each failure up to RETRY_MAX_SECONDS.

    A success resets it, so a consumer that recovered starts again from the short wait.
    """

    def __init__(self) -> None:
        self.delay = RETRY_FIRST_SECONDS

    def next(self) -> float:
        """The wait before the next attempt (and double the one after)."""
        delay, self.delay = self.delay, min(self.delay * 2, RETRY_MAX_SECONDS)
        return delay

    def reset(self) -> None:
        self.delay = RETRY_FIRST_SECONDS


async def pause(stop: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, or less when `stop` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def until_stopped(stop: asyncio.Event, work: Awaitable[T]) -> T | None:
    """Run `work` unless `stop` is set first, in which case it is cancelled and None returned.

    Only for NATS waits (fetches, binds): SQL work is never cancelled, aiosqlite can hang on it.
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
    """A durable pull consumer handing batches to `handler` until stopped.

    `bind` returns the pull subscription (called again after a bind or fetch failure), `fetch` returns up to n
    messages ([] when none came in time), `batch` is the most per fetch (or a function saying how many now).
    The handler acks (or naks) its own messages. An exception in it is logged, and the loop backs off and goes
    on: unacked messages come back after the consumer's ack wait. Fetches and binds are cancelled by `stop`;
    a handler never is (it may be writing SQL).
    """

    def __init__(
        self, name: str, bind: Bind, fetch: Fetch, handler: Handler, *, batch: int | Callable[[], int] = 256
    ) -> None:
        self.name = name
        self.bind = bind
        self.fetch = fetch
        self.handler = handler
        self.batch = batch
        self.bound = False
        self.fetching = False
        self.last_error: str | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Bind (again after failures) and consume until `stop` is set."""
        backoff = Backoff()
        while not stop.is_set():
            sub: PullSubscription | None = None
            try:
                sub = await until_stopped(stop, self.bind())
                if sub is None:
                    break
                self.bound = True
                await self._consume(sub, stop, backoff)
            except Exception as exc:
                self._failed("consumer %s failed, binding again in %.1fs: %s", exc, backoff)
                await pause(stop, backoff.next())
            finally:
                self.bound = self.fetching = False
                if sub is not None:  # not drain(): nats-py 2.16 waits 30 s on a pull subscription whose fetch timed out
                    with contextlib.suppress(Exception):
                        await sub.unsubscribe()

    async def _consume(self, sub: PullSubscription, stop: asyncio.Event, backoff: Backoff) -> None:
        while not stop.is_set():
            msgs = await until_stopped(stop, self.fetch(sub, self._size()))
            self.fetching = True
            try:
                if msgs:
                    await self.handler(msgs)
            except Exception as exc:
                self._failed("consumer %s could not handle a batch, fetching again in %.1fs: %s", exc, backoff)
                await pause(stop, backoff.next())
                continue
            backoff.reset()  # an idle fetch or a handled batch: healthy again
            self.last_error = None

    def _size(self) -> int:
        return self.batch() if callable(self.batch) else self.batch

    def _failed(self, message: str, exc: Exception, backoff: Backoff) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}"
        log.warning(message, self.name, backoff.delay, exc)

    def check(self) -> CheckResult:
        """Ready while bound and fetching; otherwise the detail says why (the last error, or still binding)."""
        if self.bound and self.fetching:
            return CheckResult(True, {"consumer": self.name})
        why = self.last_error or ("binding" if not self.bound else "not fetching yet")
        return CheckResult(False, {"consumer": self.name, "why": why})
