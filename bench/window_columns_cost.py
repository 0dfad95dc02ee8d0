"""The bench workload's windows taken as objects and as columns: microseconds per event, the same verdicts.

`python bench/window_columns_cost.py [--ticks 300] [--repeat 3]` runs the five avg windows of the `make bench`
rules (30 s to 10 min, thresholds 70 to 47) over 100 hosts, one sample per host per 10 s tick with the bench's
values around 40, two ways: one `RunningWindow` per (rule, host), as the shards' engine holds them now, each
taking and judging every sample (`take`), and one `WindowColumns` holding the same 500 windows, taking and judging
a tick's 100 samples per window at once (`take` then `holds`: a router batch of 100 events). Both must give the
same verdict for every (rule, host, tick), or the run fails. It prints the best of `--repeat` runs of each, per
event (five window verdicts), and their ratio. This is the window part of an event's evaluation only: the lane's
series bookkeeping and the transitions are not in it (docs/benchmarks.md, "Known misses").
"""

from __future__ import annotations

import argparse
import operator
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from bench.pipeline.workload import WINDOWED, Workload
from services.common.domain.evaluation.compiled.running_window import RunningWindow
from services.common.domain.evaluation.compiled.window_columns import WindowColumns

HOSTS = 100
TICK = 10.0


def samples(ticks: int) -> list[list[float]]:
    """Per tick, the value of each host (the bench's events for one metric)."""
    workload = Workload(hosts=HOSTS, metrics=1)
    return [
        [float(workload.event(tick * HOSTS + host)[workload.metric_name(0)]) for host in range(HOSTS)]
        for tick in range(ticks)
    ]


def as_objects(values: list[list[float]]) -> tuple[float, list[list[bool]]]:
    windows = [[RunningWindow(seconds) for _, seconds, _ in WINDOWED] for _ in range(HOSTS)]
    thresholds = [float(threshold) for *_, threshold in WINDOWED]
    verdicts: list[list[bool]] = []
    started = time.perf_counter()
    for tick, row in enumerate(values):
        at = tick * TICK
        out = []
        for host, value in enumerate(row):
            for window, threshold in zip(windows[host], thresholds, strict=True):
                out.append(bool(window.take(at, value, "avg", operator.gt, threshold)))
        verdicts.append(out)
    return time.perf_counter() - started, verdicts


def as_columns(values: list[list[float]]) -> tuple[float, list[list[bool]]]:
    columns = WindowColumns(slots=HOSTS * len(WINDOWED))
    slots = np.array([columns.open(seconds) for _ in range(HOSTS) for _, seconds, _ in WINDOWED], np.intp)
    thresholds = np.tile([float(threshold) for *_, threshold in WINDOWED], HOSTS)
    per_host = len(WINDOWED)
    verdicts: list[list[bool]] = []
    started = time.perf_counter()
    for tick, row in enumerate(values):
        taken = np.repeat(np.asarray(row), per_host)
        columns.take(slots, np.full(slots.size, tick * TICK), taken)
        verdicts.append(columns.holds(slots, "avg", ">", thresholds).tolist())
    return time.perf_counter() - started, verdicts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    values = samples(args.ticks)
    events = args.ticks * HOSTS
    objects, columns = [], []
    for _ in range(args.repeat):
        seconds, by_objects = as_objects(values)
        objects.append(seconds)
        seconds, by_columns = as_columns(values)
        columns.append(seconds)
        if by_objects != by_columns:
            raise SystemExit("the columns' verdicts differ from the windows'")
    fired = sum(map(sum, by_objects))
    best_objects, best_columns = min(objects) / events * 1e6, min(columns) / events * 1e6
    print(
        f"{events} events x {len(WINDOWED)} avg windows ({fired} true verdicts, equal both ways): "
        f"RunningWindow objects {best_objects:.2f} us/event, WindowColumns {best_columns:.2f} us/event, "
        f"{best_objects / best_columns:.2f}x"
    )


if __name__ == "__main__":
    main()
