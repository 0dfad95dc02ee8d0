"""The peer: a Bytewax 0.21 dataflow running the benchmark's rules in memory, written as a Bytewax user writes it.

`key_on` (metric, host), then one `stateful_map` whose step (peer_step.py) serves every rule of the
metric from one deque per key, then `flat_map_value` to the transitions, which the sink writes out so the
run can check them against the reference. One process per worker (`python -m bytewax.run -i K -a ...`,
one worker each, over loopback; one process runs without `-a`). Each worker's source builds its share of
the same parsed events before its clock starts, partitioned by host as a keyed topic would be (a series
reaches its key in order, as in the product).
Throughput = events / (last sink close - first source start).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bytewax import operators as op
from bytewax.dataflow import Dataflow
from bytewax.inputs import DynamicSource, StatelessSourcePartition
from bytewax.outputs import DynamicSink, StatelessSinkPartition

from bench.pipeline.peer_step import Flip, by_metric, step
from bench.pipeline.reference import Speed
from bench.pipeline.workload import Workload, sample_of
from services.common.cli.procs import free_port

SOURCE_BATCH = 1000


class _Events(StatelessSourcePartition[dict[str, Any]]):
    def __init__(self, events: list[dict[str, Any]], marks: Path) -> None:
        self.events, self.marks, self.at = events, marks, 0

    def next_batch(self) -> list[dict[str, Any]]:
        if self.at == 0:
            self.marks.write_text(json.dumps({"start": time.time(), "events": len(self.events)}))
        if self.at >= len(self.events):
            raise StopIteration()
        chunk = self.events[self.at : self.at + SOURCE_BATCH]
        self.at += SOURCE_BATCH
        return chunk


class _Source(DynamicSource[dict[str, Any]]):
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _Events:
        workload = Workload(**self.config["workload"])
        # partitioned by host, as a keyed topic would be: each series' events stay in order, as the product's do
        mine = [n for n in range(self.config["events"]) if (n % workload.hosts) % worker_count == worker_index]
        marks = Path(self.config["out"]) / f"source-{worker_index}.json"
        return _Events([workload.event(n) for n in mine], marks)


class _Writer(StatelessSinkPartition[Flip]):
    def __init__(self, marks: Path) -> None:
        self.marks, self.flips = marks, list[Flip]()

    def write_batch(self, items: list[Flip]) -> None:
        self.flips += items

    def close(self) -> None:
        self.marks.write_text(json.dumps({"end": time.time(), "flips": self.flips}))


class _Sink(DynamicSink[Flip]):
    def __init__(self, out: str) -> None:
        self.out = out

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _Writer:
        return _Writer(Path(self.out) / f"sink-{worker_index}.json")


def flow_for(config_path: str) -> Dataflow:
    """The dataflow, configured by the JSON file `run()` writes."""
    config = json.loads(Path(config_path).read_text())
    workload = Workload(**config["workload"])
    rules = by_metric(workload.rules())
    flow = Dataflow("bench_peer")
    events = op.input("events", flow, _Source(config))
    samples = op.filter_map("samples", events, lambda event: _sample(workload, rules, event))
    keyed = op.key_on("series", samples, lambda s: f"{s[0]}|{s[1]}")

    def series(state: Any, sample: tuple[str, str, float, float]) -> tuple[Any, list[Flip]]:
        metric, host, at, value = sample
        return step(rules[metric], state, host, at, value)

    flips = op.flat_map_value("flips", op.stateful_map("rules", keyed, series), lambda made: made)
    op.output("out", op.map("unkey", flips, lambda kv: kv[1]), _Sink(config["out"]))
    return flow


def _sample(workload: Workload, rules: dict[str, Any], event: dict[str, Any]) -> tuple[str, str, float, float] | None:
    sample = sample_of(workload, event)
    return sample if sample[0] in rules else None


def run(workload: Workload, events: int, workdir: Path, processes: int | None = None) -> dict[str, Any]:
    """Run the peer over events 0..`events`: its speed, its transitions (as Flips) and its configuration."""
    processes = processes or os.cpu_count() or 1
    out = workdir / f"bytewax-{workload.matching_rules}-{events}-{processes}"
    out.mkdir(parents=True, exist_ok=True)
    config = {"workload": asdict(workload), "events": events, "out": str(out)}
    config_path = out / "config.json"
    config_path.write_text(json.dumps(config))
    target = f"bench.pipeline.peer:flow_for({str(config_path)!r})"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    argv = [sys.executable, "-m", "bytewax.run", target, "-w", "1"]
    if processes > 1:
        argv += ["-a", ";".join(f"127.0.0.1:{free_port()}" for _ in range(processes))]
        procs = [subprocess.Popen([*argv, "-i", str(k)], env=env) for k in range(processes)]
    else:
        procs = [subprocess.Popen(argv, env=env)]
    for proc in procs:
        if proc.wait(timeout=900) != 0:
            raise RuntimeError(f"bytewax process exited with {proc.returncode}")
    starts = [json.loads(p.read_text()) for p in out.glob("source-*.json")]
    ends = [json.loads(p.read_text()) for p in out.glob("sink-*.json")]
    speed = Speed(events, max(e["end"] for e in ends) - min(s["start"] for s in starts))
    flips = [tuple(flip) for e in ends for flip in e["flips"]]
    return {
        "eps": speed.eps,
        "seconds": speed.seconds,
        "events": events,
        "rules": len(workload.rules()),
        "transitions": len(flips),
        "flips": flips,
        "config": {
            "bytewax": "0.21.1",
            "processes": processes,
            "workers_per_process": 1,
            "input": f"DynamicSource, one partition per worker by host, parsed dicts built before the clock starts, "
            f"batches of {SOURCE_BATCH}",
            "state": "key_on (metric, host) -> stateful_map: one deque per key serving every rule of the "
            "metric, a running sum and count per window length",
            "recovery": "off (in memory)",
        },
    }
