"""Routing capacity with 1, 2 and more router partitions, each router in a process of its own (as ingest replicas).

`python -m bench.pipeline.router_partitions [--events 200000] [--tenants 8] [--partitions 1,2]` starts a private
nats-server (JetStream, file storage), stores the benchmark's rules for `tenants` tenants in the rule bucket, and
publishes `events` workload events to the raw stream as producers do (JSON arrays of `--batch` events, each
message to the next tenant in turn). Then, for each partition count P, it starts P processes, each running the
product's `Router` for one partition (its own NATS connection, lease and durable consumer), released together at
a barrier, and measures how long until every partition has acked the whole raw stream: capacity = events / that
time. Between counts the work stream is made anew and the routers' consumers and handover record deleted, so every
count routes the same backlog from the start. The work each count stores must be the same set of (shard, raw
sequence, event index) as the first count's, or the run fails (the routers must route the same events to the same
shards however partitioned). nats-server shares the machine's cores with the routers, as it would in a small
deployment; on 2 cores the routers and the server compete.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import nats
from nats.js.client import JetStreamContext

from bench.pipeline.reference import local_rules
from bench.pipeline.workload import Workload, batches
from services.common.messages import codec
from services.common.nats import subjects
from services.common.nats.router_partitions import Partition, is_router_consumer
from services.common.nats.streams import ensure_streams
from services.evaluator.work import EventWork, decode_message
from services.ingest.partition_handover import HANDOVER_KEY
from services.ingest.router import Router
from tests.support.nats import start_nats

SHARDS = 2


def tenants(count: int) -> list[str]:
    return [f"tenant-{n:02d}" for n in range(count)]


async def load(url: str, workload: Workload, events: int, batch: int, tenant_names: list[str]) -> int:
    """Store the rules for every tenant and publish the events; the raw stream's last sequence."""
    nc = await nats.connect(url)
    js = nc.jetstream(publish_async_max_pending=2000)
    await ensure_streams(js)
    kv = await js.key_value(subjects.RULES_BUCKET)
    for tenant in tenant_names:
        for rule in local_rules(workload):
            rule = rule.model_copy(update={"tenant": tenant})
            await kv.put(subjects.rule_key(tenant, rule.rule_id), codec.dumps(rule.canonical()))
    pending = []
    for n, (_, body) in enumerate(batches(workload, 0, events, batch)):
        subject = subjects.ingest_subject(tenant_names[n % len(tenant_names)])
        pending.append(await js.publish_async(subject, body))
    await asyncio.gather(*pending)
    last = int((await js.stream_info(subjects.EVENTS_STREAM)).state.last_seq)
    await nc.close()
    return last


def _route(url: str, partition: Partition, last: int, barrier: Any, results: Any) -> None:
    results.put(asyncio.run(_route_async(url, partition, last, barrier)))


async def _route_async(url: str, partition: Partition, last: int, barrier: Any) -> tuple[int, float]:
    nc = await nats.connect(url)
    js = nc.jetstream()
    router = Router(nc, default_shards=SHARDS, partition=partition, lease_seconds=30, instance=f"bench-{partition}")
    await asyncio.to_thread(barrier.wait)
    began = time.perf_counter()
    await router.start()
    while True:
        await asyncio.sleep(0.02)
        try:
            info = await js.consumer_info(subjects.EVENTS_STREAM, partition.durable)
        except Exception:
            continue
        if info.ack_floor and (info.ack_floor.stream_seq or 0) >= last and not info.num_ack_pending:
            break
    seconds = time.perf_counter() - began
    await router.stop()
    await nc.close()
    return partition.index, seconds


async def reset(url: str) -> None:
    """A new work stream, and the routers' consumers and handover record deleted: the next count starts from the
    first raw message."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.delete_stream(subjects.WORK_STREAM)  # not a purge: its de-duplication window would drop a repeat run
    await ensure_streams(js)
    for info in await js.consumers_info(subjects.EVENTS_STREAM):
        if is_router_consumer(info.name):
            await js.delete_consumer(subjects.EVENTS_STREAM, info.name)
    control = await js.key_value(subjects.CONTROL_BUCKET)
    await control.purge(HANDOVER_KEY)
    await nc.close()


async def routed_work(url: str) -> set[tuple[int, int, int]]:
    """Every (shard, raw sequence, event index) on the work stream."""
    nc = await nats.connect(url)
    js: JetStreamContext = nc.jetstream()
    total = (await js.stream_info(subjects.WORK_STREAM)).state.messages or 0
    sub = await js.pull_subscribe(f"{subjects.WORK_PREFIX}.*", stream=subjects.WORK_STREAM)
    out: set[tuple[int, int, int]] = set()
    seen = 0
    while seen < total:
        for msg in await sub.fetch(min(1000, total - seen), timeout=10):
            seen += 1
            await msg.ack()
            shard = msg.subject.rsplit(".", 1)[1]
            if not shard.isdigit():
                continue  # an epoch marker
            for item in decode_message(msg.metadata.sequence.stream, msg.data)[0]:
                if isinstance(item, EventWork) and item.raw is not None:
                    out.add((int(shard), *item.raw))
    await sub.unsubscribe()
    await nc.close()
    return out


def capacity(url: str, partitions: int, last: int) -> float:
    """Seconds until `partitions` router processes have routed and acked the whole raw stream."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(partitions), context.Queue()
    procs = [
        context.Process(target=_route, args=(url, Partition(k, partitions), last, barrier, results))
        for k in range(partitions)
    ]
    for proc in procs:
        proc.start()
    done = [results.get(timeout=900) for _ in procs]
    for proc in procs:
        proc.join()
    return max(seconds for _, seconds in done)


async def run(
    events: int, tenant_count: int, counts: list[int], batch: int, hosts: int, metrics: int
) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="cep-router-bench-"))
    server = start_nats(workdir / "nats")
    try:
        workload = Workload(hosts=hosts, metrics=metrics)
        last = await load(server.url, workload, events, batch, tenants(tenant_count))
        result: dict[str, Any] = {"events": events, "raw_messages": last, "tenants": tenant_count, "by_partitions": {}}
        expected: set[tuple[int, int, int]] | None = None
        for count in counts:
            await reset(server.url)
            seconds = await asyncio.to_thread(capacity, server.url, count, last)
            work = await routed_work(server.url)
            if expected is None:
                expected = work
            elif work != expected:
                differ = len(work ^ expected)
                raise SystemExit(f"{count} partitions routed other work than {counts[0]}: {differ} differ")
            result["by_partitions"][str(count)] = {"seconds": round(seconds, 3), "eps": round(events / seconds)}
            print(f"{count} partition(s): {events / seconds:,.0f} events/s ({seconds:.2f} s)", flush=True)
        base = result["by_partitions"][str(counts[0])]["eps"]
        result["ratio_to_first"] = {k: round(v["eps"] / base, 3) for k, v in result["by_partitions"].items()}
        return result
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--tenants", type=int, default=8)
    parser.add_argument("--partitions", default="1,2")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--metrics", type=int, default=100)
    args = parser.parse_args()
    counts = [int(n) for n in args.partitions.split(",")]
    result = asyncio.run(run(args.events, args.tenants, counts, args.batch, args.hosts, args.metrics))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
