"""How big each part of the pipeline benchmark runs: `full` for `make bench`, `medium` for a quicker look at the
same workload, `tiny` for the CI smoke test."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scale:
    """Sizes and durations of one benchmark run."""

    name: str
    hosts: int
    metrics: int  # x 10 rules each
    batch: int  # events per NATS message
    probe_events: int  # the first burst; the second lasts `probe_seconds` at the first burst's rate
    probe_seconds: float
    sustain_seconds: float
    sustain_shares: tuple[float, ...]  # of the probed capacity, tried in order until one is kept up with
    latency_seconds: float  # per load level; longer (up to latency_max_seconds) to see latency_min_alerts alerts
    latency_min_alerts: int
    latency_max_seconds: float
    shard_counts: tuple[int, ...]  # the main stack runs the default (2); the others start their own stack
    engine_rule_counts: tuple[int, ...]  # the engine against the one-process peer, in memory
    engine_curve_events: int
    engine_shard_events: int  # engine-only capacity with 1, 2, 4 shards (one process each)
    nats_core_messages: int
    nats_js_messages: int
    rule_counts: tuple[int, ...]
    rules_curve_events: int
    memory_hosts: int
    drain_timeout: float
    pattern_users: int = 100  # the login pattern beside a plain event rule (patterns.py), in memory
    pattern_events: int = 30_000
    router_events: int = 200_000  # routing capacity by router partitions (router_partitions.py), 8 tenants


FULL = Scale(
    name="full",
    hosts=100,
    metrics=100,
    batch=100,
    probe_events=2000,
    probe_seconds=10.0,
    sustain_seconds=30.0,
    sustain_shares=(0.8, 0.6, 0.4, 0.25),
    latency_seconds=10.0,
    latency_min_alerts=1000,
    latency_max_seconds=150.0,
    shard_counts=(1, 2, 4),
    engine_rule_counts=(10, 10_000),
    engine_curve_events=30_000,
    engine_shard_events=30_000,
    nats_core_messages=100_000,
    nats_js_messages=5000,
    rule_counts=(10, 1000, 10_000),
    rules_curve_events=2000,
    memory_hosts=20,
    drain_timeout=120.0,
)

TINY = Scale(
    name="tiny",
    hosts=10,
    metrics=2,
    batch=20,
    probe_events=200,
    probe_seconds=1.0,
    sustain_seconds=3.0,
    sustain_shares=(0.5,),
    latency_seconds=2.0,
    latency_min_alerts=0,
    latency_max_seconds=2.0,
    shard_counts=(2,),
    engine_rule_counts=(10, 100),
    engine_curve_events=2000,
    engine_shard_events=2000,
    router_events=4000,
    nats_core_messages=2000,
    nats_js_messages=200,
    rule_counts=(10, 100),
    rules_curve_events=200,
    memory_hosts=3,
    drain_timeout=60.0,
    pattern_events=1200,
)

# The full workload (1,000 rules, 100 events per message) with shorter phases and fewer side parts: a few
# minutes, for before/after comparisons of a change on the hot path (not the published figures).
MEDIUM = Scale(
    name="medium",
    hosts=100,
    metrics=100,
    batch=100,
    probe_events=2000,
    probe_seconds=5.0,
    sustain_seconds=15.0,
    sustain_shares=(0.8, 0.6, 0.4, 0.25),
    latency_seconds=5.0,
    latency_min_alerts=300,
    latency_max_seconds=15.0,
    shard_counts=(2,),
    engine_rule_counts=(10, 10_000),
    engine_curve_events=10_000,
    engine_shard_events=10_000,
    nats_core_messages=20_000,
    nats_js_messages=1000,
    rule_counts=(10, 1000),
    rules_curve_events=1000,
    memory_hosts=5,
    drain_timeout=120.0,
)

SCALES = {scale.name: scale for scale in (FULL, MEDIUM, TINY)}
