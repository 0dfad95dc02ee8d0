"""Where the CPU goes end to end: CPU seconds per process of a `cep up` stack while it takes a burst at capacity.

Starts the bench's stack (`--shards`, the `medium` workload by default), creates its rules, then publishes
`--events` events the documented producer way as fast as the pipeline drains them, and reads every process's
CPU time (user + system, from the OS) before and after. Prints, per process, CPU milliseconds per 1,000 events
and its share of all the CPU spent, so the heaviest hop of the pipeline is named by a measurement:

    python -m bench.pipeline.cpu_share [--shards 2] [--events 60000] [--scale medium] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from bench.pipeline.drive import Producer, drained
from bench.pipeline.product import EVENT_TIME_LEAD_SECONDS
from bench.pipeline.scales import SCALES
from bench.pipeline.stack import BenchStack, create_rules, running_stack
from bench.pipeline.workload import Workload

# A process is named by the first of these found in its command line (Ray names its workers by actor class).
ROLES = (
    ("ray::ShardActor", "shard actor"),
    ("services.ingest", "ingest router"),
    ("services.evaluator", "evaluator driver"),
    ("services.gateway", "gateway + recorder"),
    ("services.notifier", "notifier"),
    ("services.scheduler", "scheduler"),
    ("nats-server", "nats-server"),
    ("raylet", "ray: raylet"),
    ("gcs_server", "ray: gcs"),
    ("dashboard", "ray: dashboard"),
    ("ray::", "ray: other workers"),
    ("ray", "ray: other"),
)


def role_of(process: psutil.Process) -> str:
    try:
        line = " ".join(process.cmdline()) or process.name()
    except psutil.Error:
        return "gone"
    for needle, role in ROLES:
        if needle in line:
            return role
    return process.name()


def cpu_by_process(root: psutil.Process) -> dict[int, tuple[str, float]]:
    """CPU seconds (user + system) so far of `root` and every process under it, by pid; a process's count takes in
    its children that have ended (a live child is counted on its own)."""
    found: dict[int, tuple[str, float]] = {}
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()  # with the children it has reaped (a shard's snapshot and rebase children)
            own = times.user + times.system + times.children_user + times.children_system
            found[process.pid] = (role_of(process), own)
        except psutil.Error:
            continue
    return found


def spent(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> dict[str, float]:
    """CPU seconds per role between two readings (a process started in between counts from zero)."""
    out: dict[str, float] = {}
    for pid, (role, seconds) in after.items():
        out[role] = out.get(role, 0.0) + seconds - before.get(pid, (role, 0.0))[1]
    return out


async def measure(bench: BenchStack, workload: Workload, batch: int, events: int) -> dict[str, Any]:
    root = psutil.Process(bench.stack.proc.pid)
    me = psutil.Process()
    async with Producer(bench, workload, batch) as producer:
        await producer.publish(batch * 20)  # warm every path (rule tables, lanes) before the clock
        await drained(bench, 120)
        before, mine, began = cpu_by_process(root), me.cpu_times(), time.perf_counter()
        await producer.publish(events)
        done = await drained(bench, 600) or time.perf_counter()
        after, mine_after = cpu_by_process(root), me.cpu_times()
    seconds = done - began
    roles = spent(before, after)
    roles["bench producer"] = (mine_after.user + mine_after.system) - (mine.user + mine.system)
    total = sum(roles.values())
    rows = sorted(roles.items(), key=lambda item: -item[1])
    return {
        "events": events,
        "seconds": round(seconds, 2),
        "eps": round(events / seconds, 1),
        "cpu_seconds": round(total, 2),
        "cores_busy": round(total / seconds, 2),
        "by_process": {
            role: {"cpu_ms_per_1k_events": round(cpu * 1e6 / events, 1), "share": round(cpu / total, 3)}
            for role, cpu in rows
            if cpu > 0.005
        },
    }


async def run(shards: int, events: int, scale_name: str) -> dict[str, Any]:
    scale = SCALES[scale_name]
    workload = Workload(hosts=scale.hosts, metrics=scale.metrics, t0=int(time.time()) - EVENT_TIME_LEAD_SECONDS)
    with tempfile.TemporaryDirectory(prefix="cep-cpu-") as workdir, running_stack(Path(workdir), shards) as bench:
        await create_rules(bench, workload.rules())
        result = await measure(bench, workload, scale.batch, events)
    return {"shards": shards, "scale": scale_name, **result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--scale", default="medium", choices=sorted(SCALES))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    result = asyncio.run(run(args.shards, args.events, args.scale))
    print(
        f"{result['events']} events in {result['seconds']} s = {result['eps']} events/s, "
        f"{result['cores_busy']} cores busy"
    )
    for role, row in result["by_process"].items():
        print(f"  {role:22} {row['cpu_ms_per_1k_events']:8.1f} ms CPU per 1k events  {row['share']:6.1%}")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
