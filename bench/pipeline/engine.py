"""The engine the shards run, timed in memory on one core, and set against the peer at 10 and 10,000 rules.

Each timing runs in a process of its own (`fresh_engine_run`, `fresh_bare_loop`), as a shard and the peer run: the
bench's own process holds millions of objects by then (the stack runs' events and references), and collections of
that heap would be billed to the engine (measured once: 74k against 126k events/s for the 10-rule engine).

The engine is built through the factory a shard uses (`ShardState.from_rules`, with the platform's default
series quotas) and fed steps of `EventWork` as the shard's consume loop feeds it, under the garbage collector
threshold a shard's process sets (`CEP_SHARD_GC_THRESHOLD`'s default), so this figure follows whatever engine
the shard builds. Events are parsed before the clock starts, as they are for the peer.
Every run's transitions are checked against the reference (and the peer's against the same reference):
a mismatch fails the bench run.
"""

from __future__ import annotations

import gc
import multiprocessing
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from bench.pipeline import peer
from bench.pipeline.peer_step import Flip, bare_loop
from bench.pipeline.reference import Speed, as_flips, check_same, local_rules, parsed_events, reference_run
from bench.pipeline.workload import Workload
from services.common.domain.evaluation.sharding import SeriesOwner
from services.common.domain.events.model import Event
from services.common.domain.quotas.series_quota import SeriesQuotas
from services.common.domain.rules.model import Rule
from services.evaluator.collector import tune_collector
from services.evaluator.options import ShardOptions
from services.evaluator.processor import Output, ShardState
from services.evaluator.work import EventWork

STEP_EVENTS = 100  # events per engine call: one router batch's events for a shard


def shard_engine_run(
    rules: Sequence[Rule],
    events: Sequence[Event],
    ready: Callable[[], object] | None = None,
    owns: SeriesOwner | None = None,
) -> tuple[list[Flip], Speed]:
    """The shard's engine over `events`, one step of STEP_EVENTS at a time: its transitions and speed.

    `ready` is called once everything is built, just before the clock starts (a barrier, for parallel shards);
    `owns` is the shard's share of the series (`Placement(n).owner(k)`; all of them when None).
    """
    state = ShardState.from_rules(rules, quotas=SeriesQuotas(), owns=owns)
    steps = [
        [EventWork(seq, event) for seq, event in enumerate(events[first : first + STEP_EVENTS], first)]
        for first in range(0, len(events), STEP_EVENTS)
    ]
    out = Output()
    before = tune_collector(ShardOptions().gc_threshold)  # as a shard's process runs (services/evaluator/collector.py)
    try:
        if ready is not None:
            ready()
        started = time.perf_counter()
        for step in steps:
            state.run(step, out)
        speed = Speed(len(events), time.perf_counter() - started)
    finally:
        gc.set_threshold(*before)
    if out.failures or out.refusals:
        raise AssertionError(f"the engine refused or failed: {out.failures[:3]} {out.refusals[:3]}")
    return as_flips((transition for transition, _ in out.alerts), rules), speed


def fresh_engine_run(rules: Sequence[Rule], workload: Workload, events: int) -> tuple[list[Flip], Speed]:
    """`shard_engine_run` over the first `events` of `workload`, in a new process (events parsed there, before the
    clock starts)."""
    return _in_new_process(_engine_over, list(rules), workload, events)


def fresh_bare_loop(workload: Workload, events: int) -> tuple[list[Flip], Speed]:
    """`peer_step.bare_loop` over the first `events` of `workload`, in a new process."""
    return _in_new_process(_bare_over, workload, events)


def _in_new_process(func: Callable[..., tuple[list[Flip], Speed]], *args: Any) -> tuple[list[Flip], Speed]:
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(func, *args).result()


def _engine_over(rules: list[Rule], workload: Workload, events: int) -> tuple[list[Flip], Speed]:
    return shard_engine_run(rules, parsed_events(workload.events(0, events)))


def _bare_over(workload: Workload, events: int) -> tuple[list[Flip], Speed]:
    return bare_loop(workload, workload.events(0, events))


def curve_workload(rules: int) -> Workload:
    """`rules` rules of which the same 10 match every event (one metric over 100 hosts), the rest on metrics no
    event carries: the rule-count curve's workload (limits.py), so a series sees many samples at any count."""
    return Workload(hosts=100, metrics=1, idle_rules=rules - 10)


def engine_vs_peer(rule_counts: Sequence[int], events: int, workdir: Path) -> dict[str, dict[str, Any]]:
    """Per rule count: the engine's and the one-process peer's events/s over the same events, both checked."""
    out: dict[str, dict[str, Any]] = {}
    for count in rule_counts:
        workload = curve_workload(count)
        rules = local_rules(workload)
        parsed = parsed_events(workload.events(0, events))
        reference, _ = reference_run(rules, parsed)
        expected = as_flips(reference, rules)
        flips, engine = fresh_engine_run(rules, workload, events)
        check_same(f"engine at {count} rules", flips, expected)
        ran = peer.run(workload, events, workdir, processes=1)
        check_same(f"bytewax peer at {count} rules", ran.pop("flips"), expected)
        out[str(count)] = {
            "rules": count,
            "hosts": workload.hosts,
            "events": events,
            "transitions": len(expected),
            "engine_eps": round(engine.eps, 1),
            "bytewax_eps": round(ran["eps"], 1),
            "ratio": round(engine.eps / ran["eps"], 3) if ran["eps"] else None,
        }
    return out
