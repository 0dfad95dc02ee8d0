"""Push the workload into a stack as a NATS producer (JetStream publish, PubAck awaited) and watch it keep up.

Events go in messages of `batch` events (a JSON array: the producer path's batching), on
`cep.ingest.default`, with the admin token as the NATS token (the auth callout admits it) and
`Nats-Msg-Id = bench-<first event index>`. Bodies are encoded before a timed phase starts, so the
producer's own JSON work does not count against the product.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import deque
from dataclasses import dataclass, field

import nats
from nats.aio.client import Client
from nats.js.api import PubAck
from nats.js.client import JetStreamContext

from bench.pipeline.stack import BenchStack
from bench.pipeline.workload import Workload, batches
from services.common.nats import subjects

IN_FLIGHT = 64  # publishes awaiting their PubAck at once
POLL_SECONDS = 0.25
DRAIN_GRACE_SECONDS = 5.0  # a pipeline that kept up finishes the batches in hand within this
# The first seconds of a phase fill the pipeline (its latency, and the evaluator's event counter refreshing once a
# second): a rise then is no backlog building up, so the trend is fitted from here on.
WARMUP_SECONDS = 2.0


@dataclass
class Published:
    """When each message of a phase was handed to the client (perf_counter), by its first event index."""

    sent_at: dict[int, float] = field(default_factory=dict)
    events: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class Sample:
    """The stack's backlog `at` seconds into a phase, as events not yet evaluated and alerts not yet recorded."""

    at: float
    events_behind: float
    alerts_behind: int


class Producer:
    """One NATS connection publishing the workload in order; `published` counts events sent so far."""

    def __init__(self, bench: BenchStack, workload: Workload, batch: int, traced: bool = False) -> None:
        """`traced`: each message carries a W3C `traceparent`, as a traced producer's would."""
        self.bench = bench
        self.traced = traced
        self.workload = workload
        self.batch = batch
        self.published = 0
        self.sent = 0  # events handed to the client so far (`published` counts whole calls)
        self.nc: Client | None = None
        self.js: JetStreamContext | None = None

    async def __aenter__(self) -> Producer:
        tenant = "default"
        self.nc = await nats.connect(self.bench.nats_url, token=self.bench.token, inbox_prefix=f"_INBOX_{tenant}")
        self.js = self.nc.jetstream(publish_async_max_pending=IN_FLIGHT * 4)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.nc is not None:
            await self.nc.drain()

    async def publish(self, count: int, rate: float | None = None) -> Published:
        """Publish the next `count` events (rounded up to whole messages), paced at `rate` events/s (None: as
        fast as PubAcks come back)."""
        assert self.js is not None
        count = -(-count // self.batch) * self.batch
        bodies = list(batches(self.workload, self.published, self.published + count, self.batch))
        start_index, log = self.published, Published()
        acks: deque[asyncio.Future[PubAck]] = deque()
        started = time.perf_counter()
        for first, body in bodies:
            if rate is not None:
                due = started + (first - start_index) / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            log.sent_at[first] = time.perf_counter()
            self.sent = first + self.batch
            headers = {subjects.MSG_ID: f"bench-{first}"}
            if self.traced:
                headers["traceparent"] = f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"
            acks.append(await self.js.publish_async(subjects.ingest_subject("default"), body, headers=headers))
            while len(acks) > IN_FLIGHT or (acks and acks[0].done()):
                await acks.popleft()
        await asyncio.gather(*acks)
        log.events, log.seconds = count, time.perf_counter() - started
        self.published += count
        return log


@dataclass(frozen=True)
class Progress:
    """Where a phase started: events sent, and shard evaluations done (an event counts once per shard it needs)."""

    sent: int
    evaluated: float


def events_behind(sent: int, evaluated: float, start: Progress, fanout: float) -> float:
    """Events sent but not evaluated yet: the sent ones minus the shards' evaluations over shards per event.

    Counted in events, not work messages: one work message carries a router batch's events for a shard.
    """
    done = (evaluated - start.evaluated) / fanout if fanout else sent - start.sent
    return max(0.0, (sent - start.sent) - done)


async def progress(producer: Producer) -> Progress:
    return Progress(producer.sent, await asyncio.to_thread(producer.bench.evaluated))


async def sample(producer: Producer, start: Progress, fanout: float, began: float) -> Sample:
    backlog = await asyncio.to_thread(producer.bench.backlog)
    evaluated = await asyncio.to_thread(producer.bench.evaluated)
    behind = events_behind(producer.sent, evaluated, start, fanout)
    return Sample(time.perf_counter() - began, behind, backlog.of("recorder"))


async def drained(bench: BenchStack, timeout: float) -> float | None:
    """Wait until the router, the shards and the recorder have nothing left; the perf_counter time, or None."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        backlog = await asyncio.to_thread(bench.backlog)
        if backlog.of("router") == 0 and backlog.shards == 0 and backlog.of("recorder") == 0:
            return time.perf_counter()
        await asyncio.sleep(POLL_SECONDS)
    return None


async def capacity(producer: Producer, events: int, timeout: float) -> float:
    """Events per second from the first publish of a burst until the whole pipeline has drained it."""
    began = time.perf_counter()
    await producer.publish(events)
    done = await drained(producer.bench, timeout)
    return events / ((done or time.perf_counter()) - began)


async def sustain(producer: Producer, rate: float, seconds: float, fanout: float) -> tuple[list[Sample], float | None]:
    """Publish at `rate` for `seconds` while sampling the backlog every second; the samples (one more once the
    publishing ended) and how long the rest took to drain (None: not within DRAIN_GRACE_SECONDS)."""
    samples: list[Sample] = []
    start = await progress(producer)
    began = time.perf_counter()
    publishing = asyncio.create_task(producer.publish(int(rate * seconds), rate))
    while not publishing.done():
        samples.append(await sample(producer, start, fanout, began))
        await asyncio.wait({publishing}, timeout=1.0)
    await publishing
    ended = time.perf_counter()
    samples.append(await sample(producer, start, fanout, began))
    done = await drained(producer.bench, DRAIN_GRACE_SECONDS)
    return samples, None if done is None else done - ended


def kept_up(samples: list[Sample], rate: float, drain_seconds: float | None) -> bool:
    """Kept up: the backlog's trend over the phase (after WARMUP_SECONDS) grows by under 2% of the rate, and what
    was left when the publishing stopped (batches in hand) drained within DRAIN_GRACE_SECONDS."""
    settled = [s for s in samples if s.at >= WARMUP_SECONDS]
    samples = settled if len(settled) >= 3 else samples  # a phase too short for it (tiny scale): all of them
    if len(samples) < 3 or drain_seconds is None:
        return False
    xs = [s.at for s in samples]
    ys = [s.events_behind for s in samples]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / var if var else 0.0
    return slope <= 0.02 * rate
