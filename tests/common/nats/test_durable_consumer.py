"""The common durable consumer loop against a real nats-server: batches, back-off after errors, stop, readiness."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable

import nats.errors
import pytest
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig
from nats.js.client import JetStreamContext

from services.common.nats.durable_consumer import RETRY_FIRST_SECONDS, Bind, DurableConsumer

PullSubscription = JetStreamContext.PullSubscription


@pytest.fixture
async def stream(js: JetStreamContext) -> AsyncIterator[str]:
    """A fresh stream on `<name>.>`, deleted afterwards. Its name is also the subject prefix."""
    name = f"T{uuid.uuid4().hex[:10]}"
    await js.add_stream(StreamConfig(name=name, subjects=[f"{name}.>"]))
    yield name
    await js.delete_stream(name)


def binder(js: JetStreamContext, stream: str, durable: str = "loop") -> Bind:
    async def bind() -> PullSubscription:
        config = ConsumerConfig(durable_name=durable, ack_policy=AckPolicy.EXPLICIT, ack_wait=30)
        return await js.pull_subscribe(f"{stream}.>", durable=durable, stream=stream, config=config)

    return bind


async def fetch(sub: PullSubscription, size: int) -> list[Msg]:
    try:
        return await sub.fetch(size, timeout=0.5)
    except nats.errors.TimeoutError:
        return []


async def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def stopped(task: asyncio.Task[None], stop: asyncio.Event) -> None:
    stop.set()
    await asyncio.wait_for(task, 5)


async def test_hands_batches_to_the_handler_in_order(js: JetStreamContext, stream: str) -> None:
    seen: list[bytes] = []

    async def handler(msgs: list[Msg]) -> None:
        for msg in msgs:
            seen.append(msg.data)
            await msg.ack()

    for n in range(25):
        await js.publish(f"{stream}.a", str(n).encode())
    consumer = DurableConsumer("loop", binder(js, stream), fetch, handler, batch=10)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    await eventually(lambda: len(seen) == 25)
    await js.publish(f"{stream}.b", b"late")
    await eventually(lambda: len(seen) == 26)
    await stopped(task, stop)
    assert seen == [str(n).encode() for n in range(25)] + [b"late"]
    info = await js.consumer_info(stream, "loop")
    assert info.num_ack_pending == 0 and info.num_pending == 0


async def test_backs_off_after_a_handler_error_and_retries(js: JetStreamContext, stream: str) -> None:
    calls: list[float] = []

    async def handler(msgs: list[Msg]) -> None:
        calls.append(time.monotonic())
        if len(calls) <= 2:
            for msg in msgs:
                await msg.nak()  # comes back at once: only the loop's back-off spaces the attempts
            raise RuntimeError("database is locked")
        for msg in msgs:
            await msg.ack()

    await js.publish(f"{stream}.a", b"x")
    consumer = DurableConsumer("loop", binder(js, stream), fetch, handler, batch=10)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    await eventually(lambda: len(calls) == 2)
    assert consumer.last_error == "RuntimeError: database is locked"
    await eventually(lambda: len(calls) == 3)
    await stopped(task, stop)
    assert calls[1] - calls[0] >= RETRY_FIRST_SECONDS * 0.9
    assert calls[2] - calls[1] >= 2 * RETRY_FIRST_SECONDS * 0.9  # doubled while failures go on
    assert consumer.last_error is None  # a handled batch clears it


async def test_stops_promptly_while_a_fetch_waits(js: JetStreamContext, stream: str) -> None:
    async def slow_fetch(sub: PullSubscription, size: int) -> list[Msg]:
        try:
            return await sub.fetch(size, timeout=30)
        except nats.errors.TimeoutError:
            return []

    async def handler(msgs: list[Msg]) -> None:
        raise AssertionError("nothing was published")

    consumer = DurableConsumer("loop", binder(js, stream), slow_fetch, handler)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    await eventually(lambda: consumer.bound)
    await asyncio.sleep(0.2)
    started = time.monotonic()
    await stopped(task, stop)
    assert time.monotonic() - started < 1.0
    assert not consumer.bound


async def test_readiness_says_why_it_is_not_ready(js: JetStreamContext, stream: str) -> None:
    async def handler(msgs: list[Msg]) -> None:
        for msg in msgs:
            await msg.ack()

    missing = DurableConsumer("loop", binder(js, "NoSuchStream"), fetch, handler)
    assert missing.check().detail == {"consumer": "loop", "why": "binding"}
    stop = asyncio.Event()
    task = asyncio.create_task(missing.run(stop))
    await eventually(lambda: missing.last_error is not None)
    result = missing.check()
    assert not result.ok and "NotFoundError" in result.detail["why"]
    await stopped(task, stop)

    consumer = DurableConsumer("loop", binder(js, stream), fetch, handler)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    await eventually(lambda: consumer.check().ok)
    assert consumer.check().detail == {"consumer": "loop"}
    await stopped(task, stop)
    assert not consumer.check().ok
