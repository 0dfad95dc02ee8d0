"""Where an alert's latency goes, hop by hop, at low load on a real `cep up` stack.

Publishes messages (one event each by default, a few per second) whose last event fires a new alert, with
an SSE client on `GET /cep/events/stream`. Afterwards it reads every stream the alert went through and takes
each message's store time from its JetStream metadata (the server's clock, the same machine's as ours):

    publish -> CEP_EVENTS -> CEP_WORK -> CEP_ALERTS -> CEP_FEED_<tenant> -> SSE arrival

and prints p50/p99 (ms) per hop and end to end. Every event carries a unique host `hop-<run>-<n>`, found in
the raw JSON of each hop's message; the first message naming it is that event's (later ones are updates).

    python -m bench.pipeline.hops [--messages 150] [--rate 5] [--batch 1] [--shards 1] [--series 0] [--load 0]

`--load EVENTS_PER_S` first creates the `make bench` workload's 1,000 rules and publishes its events at that rate
the whole time the probes run (the producer way, 100 per message): the hops of an alert on a loaded stack.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sqlite3
import tempfile
import time
from collections.abc import Awaitable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import nats
import orjson
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from bench.pipeline.drive import Producer
from bench.pipeline.latency import SseListener, percentile
from bench.pipeline.product import EVENT_TIME_LEAD_SECONDS
from bench.pipeline.stack import BenchStack, create_rules, running_stack
from bench.pipeline.workload import RuleShape, Workload
from services.common.cli.natsconf import INTERNAL_USER
from services.common.nats import subjects
from services.common.statedir import database_file

TENANT = "default"
METRIC = "hop_probe"
HOPS = (
    ("publish -> CEP_EVENTS", "publish", "events"),
    ("CEP_EVENTS -> CEP_WORK (router)", "events", "work"),
    ("CEP_WORK -> CEP_ALERTS (shard)", "work", "alerts"),
    ("CEP_ALERTS -> CEP_FEED (recorder)", "alerts", "feed"),
    ("  alert stored -> recorder writes it", "alerts", "recorded"),
    ("  recorder writes it -> CEP_FEED", "recorded", "feed"),
    ("CEP_FEED -> SSE (live reader)", "feed", "sse"),
    ("publish -> SSE (total)", "publish", "sse"),
)
READ_IDLE_SECONDS = 1.0
LOAD_BATCH = 100  # events per message of the `--load` workload, as `make bench` sends them
LOAD_LEAD_SECONDS = 5.0  # the load runs this long before the first probe and past the last
T = TypeVar("T")


def host_pattern(run: str) -> re.Pattern[bytes]:
    return re.compile(rb"hop-" + run.encode() + rb"-(\d+)")


def message_body(run: str, n: int, batch: int) -> bytes:
    """A JSON array of `batch` events (the producer format) whose last one fires the probe rule on a new host.

    The others (`fill-<k>`, below the threshold) are evaluated like any event but fire nothing: the probe pays
    for the whole message, as the last event of a producer's batch does.
    """
    now = int(time.time())
    fillers = [{"host": f"fill-{k}", METRIC: 10.0, "timestamp": now} for k in range(batch - 1)]
    return orjson.dumps([*fillers, {"host": f"hop-{run}-{n}", METRIC: 99.0, "timestamp": now, "n": n}])


async def create_rule(bench: BenchStack) -> None:
    headers = {"Authorization": f"Bearer {bench.token}"}
    async with httpx.AsyncClient(base_url=bench.url, headers=headers, timeout=60) as client:
        response = await client.post("/cep/rules", json=RuleShape("hop probe", METRIC, 50.0).api_body())
        response.raise_for_status()


async def internal_client(bench: BenchStack) -> Client:
    """The platform's own NATS user (this bench stack's state dir holds its password): it may read every stream."""
    password = json.loads((bench.stack.state_dir / "nats-auth.json").read_text())["password"]
    return await nats.connect(f"nats://{INTERNAL_USER}:{password}@127.0.0.1:{bench.ports['nats']}")


async def store_times(nc: Client, stream: str, subject: str, pattern: re.Pattern[bytes]) -> dict[int, float]:
    """Event n -> store time (epoch seconds) of the first message on `stream` naming its host."""
    js = nc.jetstream()
    config = ConsumerConfig(ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL, inactive_threshold=30.0)
    sub = await js.pull_subscribe(subject, stream=stream, config=config)
    found: dict[int, float] = {}
    try:
        while True:
            try:
                msgs = await sub.fetch(500, timeout=READ_IDLE_SECONDS)
            except TimeoutError:
                return found
            for msg in msgs:
                for match in pattern.finditer(msg.data):
                    found.setdefault(int(match.group(1)), msg.metadata.timestamp.timestamp())
    finally:
        await sub.unsubscribe()


def recorded_times(bench: BenchStack, pattern: re.Pattern[bytes]) -> dict[int, float]:
    """Event n -> when the recorder began writing its `fired` alert (`recorded_at`, taken as its SQL work starts)."""
    path = database_file(bench.stack.state_dir)
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as db:
        rows = db.execute("SELECT recorded_at, data FROM transitions WHERE kind = 'fired'").fetchall()
    found: dict[int, float] = {}
    for recorded_at, data in rows:
        match = pattern.search(str(data).encode())
        if match:
            at = recorded_at if isinstance(recorded_at, datetime) else datetime.fromisoformat(str(recorded_at))
            found[int(match.group(1))] = (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()
    return found


class Prober:
    """Publishes probe events as a producer (the admin token through the auth callout), timing each publish."""

    def __init__(self, bench: BenchStack, run: str, batch: int) -> None:
        self.bench, self.run, self.batch = bench, run, batch
        self.sent: dict[int, float] = {}

    async def preload(self, series: int, per_message: int = 500) -> None:
        """`series` quiet events on distinct hosts (below the threshold): state for the shards to carry."""
        nc = await nats.connect(self.bench.nats_url, token=self.bench.token, inbox_prefix=f"_INBOX_{TENANT}")
        js = nc.jetstream()
        try:
            now = int(time.time())
            for first in range(0, series, per_message):
                hosts = range(first, min(first + per_message, series))
                body = orjson.dumps([{"host": f"load-{k}", METRIC: 10.0, "timestamp": now} for k in hosts])
                await js.publish(subjects.ingest_subject(TENANT), body)
        finally:
            await nc.drain()

    async def publish(self, ns: Sequence[int], rate: float) -> None:
        nc = await nats.connect(self.bench.nats_url, token=self.bench.token, inbox_prefix=f"_INBOX_{TENANT}")
        js = nc.jetstream()
        try:
            started = time.perf_counter()
            for index, n in enumerate(ns):
                delay = started + index / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                body = message_body(self.run, n, self.batch)
                self.sent[n] = time.time()
                headers = {subjects.MSG_ID: f"hop-{self.run}-{n}"}
                await js.publish(subjects.ingest_subject(TENANT), body, headers=headers)
        finally:
            await nc.drain()


async def wait_for(listener: SseListener, ns: set[int], timeout: float) -> bool:
    """Whether the alert of any of `ns` reached the SSE stream within `timeout` seconds."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if any(k in ns for _, k in listener.arrivals):
            return True
        await asyncio.sleep(0.1)
    return False


async def measure(bench: BenchStack, messages: int, rate: float, batch: int, series: int = 0) -> dict[str, Any]:
    """Warm up until one probe reaches the SSE stream, then publish `messages` probes at `rate`; hops in ms."""
    run = f"{int(time.time()) % 100_000}"
    await create_rule(bench)
    prober = Prober(bench, run, batch)
    await prober.preload(series)
    wall_minus_perf = time.time() - time.perf_counter()
    async with SseListener(bench) as listener:
        warmups: set[int] = set()
        for attempt in range(30):  # the rule reaches the shard through the pipeline itself
            warmups.add(-1 - attempt)
            await prober.publish([-1 - attempt], rate)
            if await wait_for(listener, warmups, 5.0):
                break
        else:
            raise RuntimeError("no probe alert reached the SSE stream")
        measured = list(range(messages))
        await prober.publish(measured, rate)
        await wait_for(listener, {measured[-1]}, 60.0)
        await asyncio.sleep(2.0)
    sse = {n: at + wall_minus_perf for at, n in listener.arrivals if n >= 0}
    pattern = host_pattern(run)
    nc = await internal_client(bench)
    try:
        times = {
            "publish": {n: t for n, t in prober.sent.items() if n >= 0},
            "events": await store_times(nc, subjects.EVENTS_STREAM, subjects.ingest_subject(TENANT), pattern),
            "work": await store_times(nc, subjects.WORK_STREAM, f"{subjects.WORK_PREFIX}.>", pattern),
            "alerts": await store_times(nc, subjects.ALERTS_STREAM, subjects.alerts_subject(TENANT), pattern),
            "feed": await store_times(nc, subjects.feed_stream(TENANT), subjects.feed_subject(TENANT), pattern),
            "sse": sse,
            "recorded": recorded_times(bench, pattern),
        }
    finally:
        await nc.drain()
    hops = hop_table(times, measured)
    return {"messages": messages, "rate_msgs": rate, "batch": batch, "series": series, "hops": hops}


def hop_table(times: dict[str, dict[int, float]], ns: Sequence[int]) -> list[dict[str, Any]]:
    out = []
    for label, start, end in HOPS:
        values = [(times[end][n] - times[start][n]) * 1000 for n in ns if n in times[start] and n in times[end]]
        p50, p99 = percentile(values, 50), percentile(values, 99)
        out.append(
            {
                "hop": label,
                "samples": len(values),
                "p50_ms": None if p50 is None else round(p50, 1),
                "p99_ms": None if p99 is None else round(p99, 1),
                "max_ms": round(max(values), 1) if values else None,
            }
        )
    return out


def render(result: dict[str, Any]) -> str:
    lines = [
        f"{result['messages']} messages of {result['batch']} event(s) at {result['rate_msgs']:g} messages/s, "
        f"{result['series']} extra series",
        f"{'hop':<36} {'n':>5} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9}",
    ]
    for row in result["hops"]:
        cells = [row[k] if row[k] is not None else "-" for k in ("p50_ms", "p99_ms", "max_ms")]
        lines.append(f"{row['hop']:<36} {row['samples']:>5} {cells[0]:>9} {cells[1]:>9} {cells[2]:>9}")
    return "\n".join(lines)


async def under_load(bench: BenchStack, rate: float, seconds: float, probes: Awaitable[T]) -> T:
    """`probes` awaited while the bench workload is published at `rate` events/s (its rules created first)."""
    workload = Workload(hosts=100, metrics=100, t0=int(time.time()) - EVENT_TIME_LEAD_SECONDS)
    await create_rules(bench, workload.rules())
    async with Producer(bench, workload, LOAD_BATCH) as producer:
        load = asyncio.create_task(producer.publish(int(rate * (seconds + LOAD_LEAD_SECONDS * 2)), rate))
        await asyncio.sleep(LOAD_LEAD_SECONDS)  # the stack settles at that rate before the first probe
        result = await probes
        await load
    return result


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=150)
    parser.add_argument("--rate", type=float, default=5.0, help="messages per second")
    parser.add_argument("--batch", type=int, default=1, help="events per message (the last one fires)")
    parser.add_argument("--shards", type=int, default=1)
    parser.add_argument("--series", type=int, default=0, help="quiet series created first (state to snapshot)")
    parser.add_argument("--json", type=Path, help="also write the table as JSON here")
    parser.add_argument("--load", type=float, default=0.0, help="bench workload events/s published meanwhile")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cep-hops-") as workdir, running_stack(Path(workdir), args.shards) as bench:
        probes = measure(bench, args.messages, args.rate, args.batch, args.series)
        result = asyncio.run(under_load(bench, args.load, args.messages / args.rate, probes) if args.load else probes)
    print(render(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
