"""Bounded concurrent JetStream publishing that answers only when every PubAck arrived (ingest route, router)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from nats.aio.client import Client
from nats.js.api import PubAck
from nats.js.client import JetStreamContext

from services.common.nats import subjects

CONCURRENCY = 256  # publishes in flight at once per call
PUBLISH_TIMEOUT_SECONDS = 5.0
WATCH_SECONDS = 0.05  # how often a call looks at the connection while its publishes are in flight
ENVELOPE_BYTES = 4096  # room a routed event needs around it on the work stream (work message, headers)


@dataclass(frozen=True)
class Outgoing:
    """One message to publish: subject, body, its `Nats-Msg-Id` (de-duplication) and any other headers."""

    subject: str
    payload: bytes
    msg_id: str
    headers: Mapping[str, str] = field(default_factory=dict)


class PublishFailed(Exception):
    """Not every message was confirmed: `persisted` were (the others may or may not have been stored)."""

    def __init__(self, persisted: int, total: int, cause: BaseException) -> None:
        super().__init__(f"{persisted} of {total} messages confirmed; {type(cause).__name__}: {cause}")
        self.persisted = persisted
        self.total = total
        self.cause = cause


class Disconnected(ConnectionError):
    """The NATS connection dropped while PubAcks were outstanding."""


def item_limit(nc: Client) -> int:
    """The largest raw event (bytes) the bus carries, leaving room for the routing envelope."""
    return max(nc.max_payload - ENVELOPE_BYTES, 1024)


async def publish_all(
    js: JetStreamContext,
    nc: Client,
    messages: Sequence[Outgoing],
    *,
    concurrency: int = CONCURRENCY,
    timeout: float = PUBLISH_TIMEOUT_SECONDS,
) -> list[PubAck]:
    """Publish every message and return their PubAcks in order; raise PublishFailed unless all were confirmed.

    Messages are sent in sequence order (a worker takes the next one and writes it before yielding), so one
    subject keeps the caller's order; PubAcks are awaited concurrently, at most `concurrency` at a time.
    A dropped connection (`nc`, the client under `js`) fails the call at once instead of after `timeout`.
    """
    if not messages:
        return []
    acks: list[PubAck | None] = [None] * len(messages)
    queue = iter(range(len(messages)))
    finished = asyncio.Event()
    running = min(concurrency, len(messages))

    async def worker() -> None:
        nonlocal running
        try:
            for index in queue:
                message = messages[index]
                headers = {**message.headers, subjects.MSG_ID: message.msg_id}
                acks[index] = await js.publish(message.subject, message.payload, timeout=timeout, headers=headers)
        finally:
            running -= 1
            if running == 0:
                finished.set()

    async def watch() -> None:
        while not finished.is_set():
            if not nc.is_connected:
                raise Disconnected("the NATS connection dropped with PubAcks outstanding")
            try:
                await asyncio.wait_for(finished.wait(), WATCH_SECONDS)
            except TimeoutError:
                continue

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(running):
                group.create_task(worker())
            group.create_task(watch())
    except* Exception as failures:
        cause = failures.exceptions[0]
        raise PublishFailed(sum(ack is not None for ack in acks), len(messages), cause) from cause
    return [ack for ack in acks if ack is not None]
