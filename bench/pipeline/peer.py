"""The peer: a Bytewax 0.21 dataflow doing the benchmark's rules in memory with Bytewax's own operators.

One process per core (`python -m bytewax.run -i K -a ...`, one worker each), connected over loopback.
Each worker's source builds its share of the same parsed events (every `workers`-th message of `batch`
events) before the clock starts. Per event, `flat_map` fans out to the matching rules keyed by
(rule, host); plain thresholds are a `stateful_map` (the firing phase); windowed averages are
`fold_window` with an `EventClock` and a `SlidingWindower` (length = the rule's window, offset = the
10 s reporting tick, so each window holds the samples of (T - length, T] as the product's does), then a
`stateful_map` for the phase. Transitions (fired/resolved) are counted by the sink. Each worker writes
when its source started and when its sink closed; throughput = events / (last close - first start).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bytewax import operators as op
from bytewax.dataflow import Dataflow
from bytewax.inputs import DynamicSource, StatelessSourcePartition
from bytewax.operators import windowing as win
from bytewax.outputs import DynamicSink, StatelessSinkPartition

from bench.pipeline.reference import Speed
from bench.pipeline.workload import TICK_SECONDS, RuleShape, Workload, sample_of
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
        workload, batch = Workload(**self.config["workload"]), self.config["batch"]
        mine = [
            n for n in range(self.config["events"]) if (n // batch) % worker_count == worker_index
        ]  # the same messages a round-robin of producers would carry
        marks = Path(self.config["out"]) / f"source-{worker_index}.json"
        return _Events([workload.event(n) for n in mine], marks)


class _Counter(StatelessSinkPartition[Any]):
    def __init__(self, marks: Path) -> None:
        self.marks, self.transitions = marks, 0

    def write_batch(self, items: list[Any]) -> None:
        self.transitions += len(items)

    def close(self) -> None:
        self.marks.write_text(json.dumps({"end": time.time(), "transitions": self.transitions}))


class _Sink(DynamicSink[Any]):
    def __init__(self, out: str) -> None:
        self.out = out

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _Counter:
        return _Counter(Path(self.out) / f"sink-{worker_index}.json")


def flow_for(config_path: str) -> Dataflow:
    """The dataflow, configured by the JSON file `run()` writes."""
    config = json.loads(Path(config_path).read_text())
    workload = Workload(**config["workload"])
    shapes = workload.rules()
    by_metric: dict[str, list[int]] = {}
    for index, shape in enumerate(shapes):
        by_metric.setdefault(shape.metric, []).append(index)
    flow = Dataflow("bench_peer")
    events = op.input("events", flow, _Source(config))

    def fan_out(event: dict[str, Any]) -> list[tuple[str, tuple[int, float, float]]]:
        metric, host, at, value = sample_of(workload, event)
        return [(f"{index}|{host}", (index, at, value)) for index in by_metric.get(metric, ())]

    samples = op.flat_map("fan_out", events, fan_out)
    outputs = []
    plain = op.filter("plain", samples, lambda kv: shapes[kv[1][0]].window_seconds is None)
    thresholds = {index: shape.threshold for index, shape in enumerate(shapes)}
    plain_flips = op.stateful_map(
        "plain_phase", op.map_value("plain_value", plain, lambda s: (s[0], s[2])), _keyed_phase(thresholds)
    )
    outputs.append(plain_flips)
    align = datetime.fromtimestamp(workload.t0, tz=UTC)
    clock: win.EventClock[tuple[int, float, float]] = win.EventClock(
        _sample_time, wait_for_system_duration=timedelta(0)
    )
    for seconds in sorted({s.window_seconds for s in shapes if s.window_seconds is not None}):
        name = f"w{int(seconds)}"
        mine = op.filter(name, samples, _of_length(shapes, seconds))
        windower = win.SlidingWindower(timedelta(seconds=seconds), timedelta(seconds=TICK_SECONDS), align)
        sums = win.fold_window(
            f"{name}_avg",
            mine,
            clock,
            windower,
            lambda: (-1, 0.0, 0),
            lambda acc, s: (s[0], acc[1] + s[2], acc[2] + 1),
            lambda a, b: (max(a[0], b[0]), a[1] + b[1], a[2] + b[2]),
        )
        averages = op.map_value(f"{name}_mean", sums.down, lambda w: (w[1][0], w[1][1] / w[1][2]))
        outputs.append(op.stateful_map(f"{name}_phase", averages, _keyed_phase(thresholds)))
    flips = op.filter_map_value("flips", op.merge("all", *outputs), lambda flip: flip)
    op.output("count", flips, _Sink(config["out"]))
    return flow


def _sample_time(sample: tuple[int, float, float]) -> datetime:
    return datetime.fromtimestamp(sample[1], tz=UTC)


def _of_length(shapes: list[RuleShape], seconds: float) -> Any:
    """A filter keeping the samples of rules with this window length."""
    return lambda kv: shapes[kv[1][0]].window_seconds == seconds


def _keyed_phase(thresholds: dict[int, float]) -> Any:
    """A stateful_map mapper: the firing phase of one (rule, host); emits "fired"/"resolved" on a change."""

    def step(firing: bool | None, item: tuple[int, float]) -> tuple[bool, str | None]:
        index, measured = item
        now = measured > thresholds[index]
        return now, (("fired" if now else "resolved") if now != bool(firing) else None)

    return step


def run(workload: Workload, events: int, batch: int, workdir: Path, processes: int | None = None) -> dict[str, Any]:
    """Run the peer over `events` events with one process per core; its speed, transitions and configuration."""
    processes = processes or os.cpu_count() or 1
    out = workdir / "bytewax"
    out.mkdir(parents=True, exist_ok=True)
    config = {"workload": asdict(workload), "events": events, "batch": batch, "out": str(out)}
    config_path = out / "config.json"
    config_path.write_text(json.dumps(config))
    addresses = ";".join(f"127.0.0.1:{free_port()}" for _ in range(processes))
    target = f"bench.pipeline.peer:flow_for({str(config_path)!r})"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    argv = [sys.executable, "-m", "bytewax.run", target, "-w", "1", "-a", addresses]
    procs = [subprocess.Popen([*argv, "-i", str(k)], env=env) for k in range(processes)]
    for proc in procs:
        if proc.wait(timeout=600) != 0:
            raise RuntimeError(f"bytewax process exited with {proc.returncode}")
    starts = [json.loads(p.read_text()) for p in out.glob("source-*.json")]
    ends = [json.loads(p.read_text()) for p in out.glob("sink-*.json")]
    speed = Speed(events, max(e["end"] for e in ends) - min(s["start"] for s in starts))
    return {
        "eps": speed.eps,
        "seconds": speed.seconds,
        "transitions": sum(e["transitions"] for e in ends),
        "config": {
            "bytewax": "0.21.1",
            "processes": processes,
            "workers_per_process": 1,
            "input": f"DynamicSource, parsed dicts built before the clock starts, batches of {SOURCE_BATCH}",
            "windowing": "fold_window, EventClock(wait 0 s), "
            f"SlidingWindower(length = the rule's window, offset = {TICK_SECONDS} s)",
            "plain thresholds": "stateful_map per (rule, host)",
            "recovery": "off (in memory)",
        },
    }
