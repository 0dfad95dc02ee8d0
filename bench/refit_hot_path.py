"""Refits off the hot path: an hbos rule in the engine, refits inline vs on the shard's refit pool.

`python bench/refit_hot_path.py [--samples 20000] [--batch 100] [--repeat 3]` streams one series through a
`RuleEngine` holding one hbos anomaly rule (the NAB parameters: threshold 1, min_baseline 200, training window
1000, refit every 250, lag 50), in batches like a shard's, once with refits inline and once on a `RefitPool`.
It prints, per 1,000 samples: the seconds spent in `on_events` (the shard's hot path), the seconds spent
fitting, and the seconds the hot path waited for a refit not done by its sample; and checks that both runs
give the same transitions. The first fit of a process compiles numba code: a warm-up run goes first.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.common.domain.anomaly.detectors.refit import RefitExecutor
from services.common.domain.evaluation.rule_engine import RuleEngine
from services.common.domain.events.model import Event
from services.common.domain.rules.model import Rule, RuleSpec, parse_rule
from services.common.nab.detector_runner import RefitTimer
from services.evaluator.refit_pool import RefitPool

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TRIGGER = {
    "value_path": "v",
    "anomaly_method": "hbos",
    "threshold": 1.0,
    "min_baseline": 200,
    "training_window": 1000,
    "refit_every": 250,
    "refit_lag": 50,
}


def hbos_rule() -> Rule:
    spec = parse_rule({"name": "refit-bench", "trigger_type": "anomaly", "trigger_spec": TRIGGER})
    fields = {name: getattr(spec, name) for name in RuleSpec.model_fields}
    return Rule.model_validate(
        fields | {"active": True, "rule_id": "r1", "tenant": "t", "version": 1, "created_at": T0, "updated_at": T0}
    )


def series(samples: int) -> list[Event]:
    """A daily-ish wave with deterministic noise and a spike every 3,000 samples."""
    events = []
    for n in range(samples):
        value = 50 + 10 * math.sin(n / 40) + ((n * 7919) % 13) / 4 + (60 if n % 3000 == 2999 else 0)
        events.append(Event(f"e{n}", "t", T0 + timedelta(seconds=n), {"v": value}, None))
    return events


def run(events: list[Event], batch: int, executor: RefitExecutor) -> tuple[list[float], list[Any]]:
    """The seconds of each `on_events` call, and the transitions."""
    engine = RuleEngine(executor)
    engine.upsert_rule(hbos_rule())
    batches, transitions = [], []
    for start in range(0, len(events), batch):
        began = time.perf_counter()
        transitions += engine.on_events(events[start : start + batch])
        batches.append(time.perf_counter() - began)
    return batches, [(t.kind, t.at, t.group_key) for t in transitions]


def p99(values: list[float]) -> float:
    return sorted(values)[int(0.99 * (len(values) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    events = series(args.samples)
    run(events[:1500], args.batch, RefitTimer())  # warm-up: numba compiles on the first fit
    per_k = 1000 / args.samples
    inline_hot, pool_hot, inline_fit, pool_fit, waits, wait_seconds = [], [], [], [], [], []
    inline_p99, pool_p99, inline_max, pool_max = [], [], [], []
    reference: list[Any] | None = None
    for _ in range(args.repeat):
        timer = RefitTimer()
        batches, transitions = run(events, args.batch, timer)
        inline_hot.append(sum(batches) * per_k)
        inline_p99.append(p99(batches))
        inline_max.append(max(batches))
        inline_fit.append(timer.seconds * per_k)
        reference = reference or transitions
        assert transitions == reference
        pool = RefitPool(args.workers)
        batches, transitions = run(events, args.batch, pool)
        pool.shutdown()
        figures = pool.figures()
        assert transitions == reference, "the pool changed the transitions"
        pool_hot.append(sum(batches) * per_k)
        pool_p99.append(p99(batches))
        pool_max.append(max(batches))
        pool_fit.append(figures.refit_seconds * per_k)
        waits.append(figures.refit_waits)
        wait_seconds.append(figures.refit_wait_seconds * per_k)
    med = statistics.median
    print(
        f"{args.samples} samples, batches of {args.batch}, {args.repeat} runs (medians),"
        f" {len(reference or [])} transitions"
    )
    print(
        f"inline: hot path {med(inline_hot):.4f} s per 1,000 samples, of which fitting {med(inline_fit):.4f} s;"
        f" batch p99 {1000 * med(inline_p99):.1f} ms, max {1000 * med(inline_max):.1f} ms"
    )
    print(
        f"pool({args.workers}): hot path {med(pool_hot):.4f} s per 1,000 samples; fitting {med(pool_fit):.4f} s in the"
        f" pool; waits {med(waits)} ({med(wait_seconds):.4f} s per 1,000 samples);"
        f" batch p99 {1000 * med(pool_p99):.1f} ms, max {1000 * med(pool_max):.1f} ms; same transitions: yes"
    )


if __name__ == "__main__":
    main()
