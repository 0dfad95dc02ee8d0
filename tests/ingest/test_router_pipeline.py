"""The pipelined router, killed with a batch in flight: nothing acked without its work stored, nothing doubled."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from nats.aio.client import Client
from nats.js.client import JetStreamContext

from services.common.cli.procs import free_port
from services.common.nats import subjects
from services.ingest.router import Router
from tests.ingest.test_router import (  # noqa: F401 (fixtures)
    CPU,
    FETCH,
    broker,
    change,
    ids,
    js,
    on,
    routed,
    router_nc,
    running,
    send,
    work,
)
from tests.support.nats import NatsServer
from tests.support.processes import stop_process

EVENTS = 1000
BATCH = 20  # raw messages per routed batch: many batches, so the kill finds one in flight


def ingest_process(broker: NatsServer, state_dir: Path) -> subprocess.Popen[bytes]:
    """`python -m services.ingest` on the test's broker, routing small batches."""
    env = {
        **os.environ,
        "CEP_NATS_URL": broker.url,
        "CEP_INGEST_PORT": str(free_port()),
        "CEP_STATE_DIR": str(state_dir),
        "CEP_SHARDS": "2",
        "CEP_ROUTE_BATCH": str(BATCH),
    }
    return subprocess.Popen([sys.executable, "-m", "services.ingest"], env=env, stderr=subprocess.DEVNULL)


async def ack_floor(js: JetStreamContext) -> int:
    try:
        info = await js.consumer_info(subjects.EVENTS_STREAM, subjects.ROUTER_CONSUMER)
    except Exception:
        return 0
    return int(info.ack_floor.stream_seq or 0)


async def test_a_router_killed_mid_stream_acked_only_what_it_stored_and_the_next_one_doubles_nothing(
    broker: NatsServer, js: JetStreamContext, router_nc: Client, tmp_path: Path
) -> None:
    await change(js, CPU)  # raw sequence 1; event n is at raw sequence n + 2
    for n in range(EVENTS):
        await send(js, {"cpu": n}, f"e{n}")
    shard = on(CPU)
    proc = ingest_process(broker, tmp_path)
    try:
        deadline = time.monotonic() + 30
        while await ack_floor(js) < EVENTS // 5:
            assert time.monotonic() < deadline and proc.poll() is None, "the ingest service routed nothing"
            await asyncio.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        stop_process(proc)
    floor = await ack_floor(js)
    assert floor < EVENTS + 1, "killed too late to find a batch in flight"
    stored = set(ids(await work(js)).get(shard, []))
    acked = {f"e{n}:{shard}" for n in range(EVENTS) if n + 2 <= floor}
    assert acked <= stored, f"acked but not stored: {sorted(acked - stored)[:5]}"

    router = await running(Router(router_nc, default_shards=2, fetch_seconds=FETCH))
    try:
        await routed(js, timeout=30)
        applied = ids(await work(js))[shard]
        assert applied == [f"rule:cpu:1:upsert:{shard}", *(f"e{n}:{shard}" for n in range(EVENTS))]
    finally:
        await router.stop()
