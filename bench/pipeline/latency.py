"""Latency from publish to the alert on the SSE stream (`GET /cep/events/stream`), at a given share of the rate.

A listener reads the tenant's SSE stream while the producer publishes at a steady rate. Each `fired`
message carries the event record, whose payload is the sample that fired it; the payload's `n` names the
event, so its latency is the SSE arrival minus when the message carrying event n was published.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from dataclasses import dataclass
from typing import Any

import httpx

from bench.pipeline.drive import Producer, Published, drained
from bench.pipeline.stack import BenchStack

STREAM_READY_SECONDS = 1.0
EXTEND_SECONDS = 5.0  # a phase short of its alerts publishes this much more at a time


@dataclass(frozen=True)
class Latency:
    """Percentiles (ms) of publish -> SSE for the alerts fired during one phase."""

    rate: float
    seconds: float
    alerts: int
    p50_ms: float | None
    p99_ms: float | None
    p999_ms: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "rate_eps": round(self.rate, 1),
            "seconds": round(self.seconds, 1),
            "alerts": self.alerts,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "p999_ms": self.p999_ms,
        }


def percentile(values: list[float], percent: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(round(percent * len(ordered) / 100, 9)))
    return ordered[min(rank, len(ordered)) - 1]


class SseListener:
    """Reads the SSE stream in the background and keeps (arrival time, event index n) of every `fired` message."""

    def __init__(self, bench: BenchStack) -> None:
        self.bench = bench
        self.arrivals: list[tuple[float, int]] = []
        self.open = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> SseListener:
        self._task = asyncio.create_task(self._listen())
        await asyncio.wait_for(self.open.wait(), 30)
        await asyncio.sleep(STREAM_READY_SECONDS)  # the route creates its feed consumer after answering
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await self._task

    async def _listen(self) -> None:
        headers = {"Authorization": f"Bearer {self.bench.token}", "Accept": "text/event-stream"}
        timeout = httpx.Timeout(10, read=None)
        async with (
            httpx.AsyncClient(base_url=self.bench.url, headers=headers, timeout=timeout) as client,
            client.stream("GET", "/cep/events/stream") as response,
        ):
            response.raise_for_status()
            self.open.set()
            kind = ""
            async for line in response.aiter_lines():
                if line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:") and kind == "fired":
                    n = _event_index(line[5:].strip())
                    if n is not None:
                        self.arrivals.append((time.perf_counter(), n))


def _event_index(data: str) -> int | None:
    try:
        body = json.loads(data)
    except ValueError:
        return None
    record = body.get("event", body) if isinstance(body, dict) else {}
    n = (record.get("payload") or {}).get("n")
    return n if isinstance(n, int) else None


def latencies(published: Published, arrivals: list[tuple[float, int]], batch: int) -> list[float]:
    """Milliseconds from the publish of the message carrying event n to the SSE arrival of its alert."""
    out = []
    for arrived, n in arrivals:
        sent = published.sent_at.get(n - n % batch)
        if sent is not None:
            out.append((arrived - sent) * 1000)
    return out


async def measure(
    producer: Producer, rate: float, seconds: float, drain_timeout: float, min_alerts: int = 0, max_seconds: float = 0.0
) -> Latency:
    """Publish at `rate` for `seconds` with an SSE listener attached; the latency of the alerts it saw.

    A phase that has seen fewer than `min_alerts` alerts goes on publishing at the same rate, a chunk at a time
    (`EXTEND_SECONDS`), up to `max_seconds` in all: the stream's alerts per event vary along it, so a length
    estimated beforehand can fall short (a p99 of a few hundred alerts is nearly their maximum).
    """
    async with SseListener(producer.bench) as listener:
        phase = Published()
        chunk = seconds
        while True:
            published = await producer.publish(int(rate * chunk), rate)
            phase.sent_at.update(published.sent_at)
            phase.events += published.events
            phase.seconds += published.seconds
            if len(listener.arrivals) >= min_alerts or phase.seconds + EXTEND_SECONDS > max_seconds:
                break
            chunk = EXTEND_SECONDS
        await drained(producer.bench, drain_timeout)
        await asyncio.sleep(0.5)  # the feed message follows the recorder's commit
    values = latencies(phase, listener.arrivals, producer.batch)
    p50, p99, p999 = (percentile(values, q) for q in (50, 99, 99.9))
    return Latency(rate, phase.seconds, len(values), *(None if p is None else round(p, 1) for p in (p50, p99, p999)))
