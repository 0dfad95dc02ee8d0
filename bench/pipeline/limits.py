"""The machine's limits around the pipeline: raw NATS (core and JetStream) and in-process costs of the product's
pieces: routing and evaluation as the rule count grows, and memory per (rule, group key) of window state.
"""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
import time
import tracemalloc
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats

from bench.pipeline.reference import Speed, local_rules, parsed_events
from bench.pipeline.workload import Workload, batches
from services.common.cli import natsconf
from services.common.cli.procs import free_port
from services.common.domain.evaluation.rule_engine import RuleEngine
from services.common.domain.evaluation.sharding import Placement
from services.ingest.routing import Inbound, route
from services.ingest.rule_table import RuleTable

PAYLOAD = b'{"host":"host-042","bench_m017":41.37,"timestamp":1780000000,"n":123456}'


@contextmanager
def bare_nats(workdir: Path) -> Iterator[str]:
    """A nats-server with the product's JetStream durability (`sync_interval: always`) and no auth."""
    port, monitor = free_port(), free_port()
    store = workdir / "raw-nats"
    store.mkdir(parents=True, exist_ok=True)
    config = store / "nats.conf"
    config.write_text(
        natsconf.render(host="127.0.0.1", port=port, monitor_port=monitor, store_dir=store, server_name="bench")
    )
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "nats-server"), "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{monitor}/healthz?js-enabled-only=true", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        yield f"nats://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def core_pub_sub(url: str, count: int) -> Speed:
    """nats-py publish -> subscribe on one connection each: messages/s until the last one arrived."""
    sub_nc, pub_nc = await nats.connect(url), await nats.connect(url)
    done, seen = asyncio.Event(), 0

    async def on_msg(_msg: Any) -> None:
        nonlocal seen
        seen += 1
        if seen >= count:
            done.set()

    await sub_nc.subscribe("bench.raw", cb=on_msg, pending_msgs_limit=count + 1, pending_bytes_limit=1 << 30)
    await sub_nc.flush()
    started = time.perf_counter()
    for _ in range(count):
        await pub_nc.publish("bench.raw", PAYLOAD)
    await pub_nc.flush()
    await asyncio.wait_for(done.wait(), 120)
    speed = Speed(count, time.perf_counter() - started)
    await pub_nc.close()
    await sub_nc.close()
    return speed


async def jetstream_publish(url: str, count: int, in_flight: int = 256) -> Speed:
    """JetStream publishes with PubAck (fsync on every write), `in_flight` at once: messages/s."""
    nc = await nats.connect(url)
    js = nc.jetstream(publish_async_max_pending=in_flight)
    await js.add_stream(name="BENCH_RAW", subjects=["bench.js"])
    started = time.perf_counter()
    acks = [await js.publish_async("bench.js", PAYLOAD) for _ in range(count)]
    await asyncio.gather(*acks)
    speed = Speed(count, time.perf_counter() - started)
    await nc.close()
    return speed


def rules_curve(counts: tuple[int, ...], events: int, batch: int, shards: int) -> dict[str, dict[str, float]]:
    """Routing and evaluation speed in one process with `count` rules, of which the same 10 match the events."""
    out: dict[str, dict[str, float]] = {}
    for count in counts:
        workload = Workload(metrics=1, idle_rules=count - 10)
        rules = local_rules(workload)
        table = RuleTable()
        for rule in rules:
            table.upsert(rule)
        stored = datetime.now(UTC)
        messages = [
            Inbound("cep.ingest.default", body, {"Nats-Msg-Id": f"b{first}"}, first // batch + 1, stored)
            for first, body in batches(workload, 0, events, batch)
        ]
        placement = Placement(shards)
        started = time.perf_counter()
        for message in messages:
            route(message, table, placement, 8 << 20)
        routing = Speed(events, time.perf_counter() - started)
        engine = RuleEngine()
        for rule in rules:
            engine.upsert_rule(rule)
        parsed = parsed_events(workload.events(0, events))
        started = time.perf_counter()
        for first in range(0, events, 100):
            engine.on_events(parsed[first : first + 100])
        evaluating = Speed(events, time.perf_counter() - started)
        both = 1 / (1 / routing.eps + 1 / evaluating.eps)
        out[str(count)] = {"route_eps": routing.eps, "evaluate_eps": evaluating.eps, "eps": both}
    return out


def memory_per_series(hosts: int) -> dict[str, Any]:
    """Bytes of engine state per (rule, host) once every window is full, plain and windowed separately.

    Counted with tracemalloc: what stays allocated after the events went through and were dropped, so the
    latest payload each series keeps (for its alert) is included.
    """
    workload = Workload(hosts=hosts, metrics=1)
    rules = local_rules(workload)
    ticks = 62  # the longest window (10 min) holds 60 ticks of samples
    out: dict[str, Any] = {}
    for kind, chosen in (("plain", rules[:5]), ("windowed_avg", rules[5:])):
        engine = RuleEngine()
        for rule in chosen:
            engine.upsert_rule(rule)
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for tick in range(ticks):
            engine.on_events(parsed_events(workload.events(tick * hosts, (tick + 1) * hosts)))
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        snapshot = engine.snapshot()
        series = sum(len(entry["series"]) for entry in snapshot["rules"].values())
        out[kind] = {
            "series": series,
            "bytes_per_series": round((after - before) / series),
            "snapshot_bytes_per_series": round(len(json.dumps(snapshot)) / series),
        }
    out["windowed_avg"]["samples_per_window"] = [3, 6, 12, 30, 60]  # 30s..10m windows, one sample per 10 s
    return out
