"""The product end to end: capacity, the highest rate kept up with for the sustain period, latency, and the
alerts checked against the offline reference run over every event the stack received.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.pipeline.drive import Producer, capacity, drained, kept_up, sustain
from bench.pipeline.latency import measure
from bench.pipeline.peer_step import bare_loop
from bench.pipeline.reference import TENANT, as_flips, parsed_events, reference_run
from bench.pipeline.scales import Scale
from bench.pipeline.stack import BenchStack, create_rules, running_stack
from bench.pipeline.workload import Workload
from services.common.domain.evaluation.sharding import shards_per_event
from services.common.domain.rules.model import Rule

LATENCY_SHARES = (0.1, 0.5, 0.8)
ALERT_MARGIN = 1.15  # incidents are spread unevenly over the stream: run a phase a little past the estimate
EVENT_TIME_LEAD_SECONDS = 1800  # event time starts this long before now (see workload.py)
FANOUT_SAMPLE_EVENTS = 20_000  # the events `shards_per_event` is averaged over


def fired_per_event(workload: Workload, events: int = 20_000) -> float:
    """`fired` alerts per event in the workload's stream (from the peer's step): how long a latency phase must
    run to see `latency_min_alerts` alerts."""
    flips, _ = bare_loop(workload, workload.events(0, events))
    return sum(1 for flip in flips if flip[2] == "fired") / events


def work_fanout(rules: Sequence[Rule], workload: Workload, shards: int, sample: int = FANOUT_SAMPLE_EVENTS) -> float:
    """Shards per event: how many shards the router sends an event to (those owning a series it touches, as
    `events_by_shard` places them), averaged over the first `sample` events of the stream (each shard evaluates
    the event once; the router batches the events per shard into few work messages)."""
    tenant = rules[0].tenant if rules else TENANT  # the events must carry the rules' tenant
    events = parsed_events(workload.events(0, sample), tenant=tenant)
    return shards_per_event(rules, events, shards)


async def run_product(
    scale: Scale, workdir: Path, shards: int, full: bool, env: dict[str, str] | None = None, traced: bool = False
) -> dict[str, Any]:
    """One stack with `shards` shards: its capacity; with `full`, also the sustained rate and the latencies.

    `env` adds settings to the stack's environment; `traced` makes the producer send a trace context per message.
    """
    workload = Workload(hosts=scale.hosts, metrics=scale.metrics, t0=int(time.time()) - EVENT_TIME_LEAD_SECONDS)
    with running_stack(workdir, shards, env) as bench:
        began = time.perf_counter()
        rules = await create_rules(bench, workload.rules())
        result: dict[str, Any] = {"shards": shards, "rules": len(rules), "rule_create_seconds": _since(began)}
        fanout = work_fanout(rules, workload, shards)
        result["shards_per_event"] = round(fanout, 2)
        async with Producer(bench, workload, scale.batch, traced) as producer:
            first = await capacity(producer, scale.probe_events, scale.drain_timeout)
            probe = max(scale.batch, int(first * scale.probe_seconds))
            result["capacity_eps"] = round(await capacity(producer, probe, scale.drain_timeout), 1)
            if full:
                result |= await _sustained_and_latency(producer, scale, result["capacity_eps"], fanout)
            await drained(bench, scale.drain_timeout)
            published = producer.published
        result |= _check_alerts(bench, rules, workload, published)
    return result


async def _sustained_and_latency(producer: Producer, scale: Scale, cap: float, fanout: float) -> dict[str, Any]:
    attempts, sustained = [], None
    for share in scale.sustain_shares:
        rate = cap * share
        samples, drain = await sustain(producer, rate, scale.sustain_seconds, fanout)
        ok = kept_up(samples, rate, drain)
        attempts.append(
            {
                "rate_eps": round(rate, 1),
                "kept_up": ok,
                "events_behind_max": round(max(s.events_behind for s in samples)),
                "events_behind_end": round(samples[-1].events_behind),
                "drain_seconds_after": None if drain is None else round(drain, 1),
                "alerts_behind_max": max(s.alerts_behind for s in samples),
            }
        )
        await drained(producer.bench, scale.drain_timeout)
        if ok:
            sustained = rate
            break
    base = sustained if sustained is not None else cap * min(scale.sustain_shares)
    latency = {}
    fired = fired_per_event(producer.workload)
    for share in LATENCY_SHARES:
        rate = base * share
        wanted = ALERT_MARGIN * scale.latency_min_alerts / (rate * fired) if fired else 0.0
        seconds = min(scale.latency_max_seconds, max(scale.latency_seconds, wanted))
        measured = await measure(
            producer, rate, seconds, scale.drain_timeout, scale.latency_min_alerts, scale.latency_max_seconds
        )
        latency[f"{round(share * 100)}pct"] = measured.as_dict()
    return {"throughput_eps": round(sustained or 0.0, 1), "sustain_attempts": attempts, "latency": latency}


def _check_alerts(bench: BenchStack, rules: list[Rule], workload: Workload, published: int) -> dict[str, Any]:
    transitions, _ = reference_run(rules, parsed_events(workload.events(0, published)))
    expected = {t.transition_id for t in transitions}
    recorded = bench.recorded({rule.rule_id for rule in rules})
    return {
        "events_published": published,
        "event_time_t0": workload.t0,
        "alerts_recorded": len(recorded),
        "alerts_expected": len(expected),
        "alerts_match_reference": recorded == expected,
        "alerts_missing": len(expected - recorded),
        "alerts_unexpected": len(recorded - expected),
        "_rules": rules,  # for the in-memory parts over the same rules and events; run.py takes them out
        "_reference_flips": as_flips(transitions, rules),
    }


def _since(began: float) -> float:
    return round(time.perf_counter() - began, 1)
