"""Engine-only capacity with 1, 2 and 4 shards: one process per shard, in memory, started together.

Rules are placed on shards as the evaluator places them (`placement`, today by rule id), and each shard gets
the events the router sends it: those matching one of its rules. Each process builds its engine through the
shard's factory and parses its events, waits at a barrier, then runs them (engine.py). Capacity = all events
over the slowest shard's seconds. On a machine with fewer cores than shards the shards share the cores, as
they would in a deployment sized that way.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from typing import Any

from bench.pipeline.engine import shard_engine_run
from bench.pipeline.reference import local_rules, parsed_events
from bench.pipeline.workload import Workload, sample_of
from services.common.domain.evaluation.sharding import shard_for
from services.common.domain.rules.model import Rule


def placement(rules: Sequence[Rule], shards: int) -> list[list[Rule]]:
    """The rules each shard holds, as the evaluator places them."""
    out: list[list[Rule]] = [[] for _ in range(shards)]
    for rule in rules:
        out[shard_for(rule.rule_id, shards)].append(rule)
    return out


def receivers(placed: list[list[Rule]]) -> dict[str, list[int]]:
    """Per metric, the shards an event of it is sent to: those holding a rule of the metric."""
    out: dict[str, list[int]] = {}
    for shard, rules in enumerate(placed):
        for metric in {str(getattr(rule.trigger_spec, "metric_name", "")) for rule in rules}:
            out.setdefault(metric, []).append(shard)
    return out


def shards_per_event(workload: Workload, events: int, shards: int) -> float:
    """How many shards evaluate an event, averaged over the first `events` events."""
    to = receivers(placement(local_rules(workload), shards))
    counts = [len(to.get(sample_of(workload, e)[0], ())) for e in workload.events(0, events)]
    return sum(counts) / len(counts) if counts else 0.0


def _shard(workload: Workload, events: int, shards: int, shard: int, barrier: Any, results: Any) -> None:
    placed = placement(local_rules(workload), shards)
    to = receivers(placed)
    mine = [e for e in workload.events(0, events) if shard in to.get(sample_of(workload, e)[0], ())]
    _, speed = shard_engine_run(placed[shard], parsed_events(mine), ready=barrier.wait)
    results.put((shard, speed.events, speed.seconds))


def capacity(workload: Workload, events: int, shards: int) -> dict[str, Any]:
    """Events/s of `shards` engines run in parallel processes over the first `events` events."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(shards), context.Queue()
    procs = [
        context.Process(target=_shard, args=(workload, events, shards, k, barrier, results)) for k in range(shards)
    ]
    for proc in procs:
        proc.start()
    done = [results.get(timeout=900) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
        if proc.exitcode != 0:
            raise RuntimeError(f"engine shard process exited with {proc.exitcode}")
    slowest = max(seconds for _, _, seconds in done)
    return {
        "eps": round(events / slowest, 1) if slowest > 0 else None,
        "events_per_shard": sorted((shard, count) for shard, count, _ in done),
        "shards_per_event": round(shards_per_event(workload, events, shards), 2),
    }
