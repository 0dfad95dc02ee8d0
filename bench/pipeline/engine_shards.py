"""Engine-only capacity with 1, 2 and 4 shards: one process per shard, in memory, started together.

Series are placed as the evaluator places them (`Placement`, by series since issue 16): every shard holds every
rule and keeps only the series it owns (`Placement(n).owner(k)`), and each shard gets the events the router
sends it (`events_by_shard`: those touching a series it owns). Each process builds its engine through the
shard's factory and routes and parses its events, waits at a barrier, then runs them (engine.py). Capacity =
all events over the slowest shard's seconds. The union of the shards' transitions must equal the reference's
over all the events, or the run fails. On a machine with fewer cores than shards the shards share the cores,
as they would in a deployment sized that way.
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Sequence
from typing import Any

from bench.pipeline.engine import shard_engine_run
from bench.pipeline.reference import as_flips, check_same, local_rules, parsed_events, reference_run
from bench.pipeline.workload import Workload
from services.common.domain.evaluation import sharding
from services.common.domain.evaluation.sharding import Placement, events_by_shard
from services.common.domain.events.model import Event
from services.common.domain.rules.model import Rule


def placement(shards: int) -> Placement:
    """Where series live with `shards` shards, as the evaluator places them (every shard holds every rule)."""
    return Placement(shards)


def receivers(rules: Sequence[Rule], events: Sequence[Event], shards: int) -> list[list[Event]]:
    """Per shard, the events the router sends it: those touching a series the shard owns."""
    return events_by_shard(rules, events, placement(shards))


def shards_per_event(workload: Workload, events: int, shards: int) -> float:
    """How many shards evaluate an event, averaged over the first `events` events."""
    return sharding.shards_per_event(local_rules(workload), parsed_events(workload.events(0, events)), shards)


def _shard(workload: Workload, events: int, shards: int, shard: int, barrier: Any, results: Any) -> None:
    rules = local_rules(workload)
    mine = receivers(rules, parsed_events(workload.events(0, events)), shards)[shard]
    flips, speed = shard_engine_run(rules, mine, ready=barrier.wait, owns=placement(shards).owner(shard))
    results.put((shard, speed.events, speed.seconds, flips))


def capacity(workload: Workload, events: int, shards: int) -> dict[str, Any]:
    """Events/s of `shards` engines run in parallel processes over the first `events` events; the union of their
    transitions is checked against the reference's."""
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
    rules = local_rules(workload)
    reference, _ = reference_run(rules, parsed_events(workload.events(0, events)))
    check_same(
        f"engine with {shards} shards", [flip for *_, flips in done for flip in flips], as_flips(reference, rules)
    )
    slowest = max(seconds for _, _, seconds, _ in done)
    return {
        "eps": round(events / slowest, 1) if slowest > 0 else None,
        "events_per_shard": sorted((shard, count) for shard, count, _, _ in done),
        "shards_per_event": round(shards_per_event(workload, events, shards), 2),
    }


def main() -> None:
    """`python -m bench.pipeline.engine_shards [hosts metrics events]`: shards per event and engine-only capacity."""
    hosts, metrics, events = (int(arg) for arg in (sys.argv[1:] or ["20", "10", "4000"]))
    workload = Workload(hosts=hosts, metrics=metrics)
    for shards in (1, 2, 4):
        print(shards, capacity(workload, events, shards), flush=True)


if __name__ == "__main__":
    main()
