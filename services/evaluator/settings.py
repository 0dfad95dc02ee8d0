"""Settings of the evaluator service (environment variables with the CEP_ prefix, plus Ray's RAY_ADDRESS)."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from services.common.domain.patterns.lateness import DEFAULT_LATENESS_SECONDS, MAX_LATENESS_SECONDS
from services.common.domain.patterns.matcher import DEFAULT_MAX_PARTIALS_PER_KEY, MAX_PARTIALS_PER_KEY
from services.common.settings import ServiceSettings
from services.evaluator.collector import DEFAULT_GC_THRESHOLD, MAX_GC_THRESHOLD
from services.evaluator.options import ShardOptions


class EvaluatorSettings(ServiceSettings):
    """Ports, shard count and cadence, and where Ray runs (`local` unless `RAY_ADDRESS` names a cluster)."""

    evaluator_port: int = 8082
    evaluator_grpc_port: int = 50051
    shards: int = Field(default=2, ge=1, le=256)
    snapshot_interval: float = Field(default=5.0, gt=0)  # seconds between shard snapshots (and one on clean stop)
    # Snapshots are a base and deltas (only what changed): a capture that moved this share of the series or more is
    # taken whole as the new base; else a new base, built off the evaluation path, once the deltas' compressed size
    # passes this share of the base's, or after this many deltas (0: every snapshot whole).
    snapshot_delta_ratio: float = Field(default=0.5, gt=0, le=10)
    snapshot_max_deltas: int = Field(default=50, ge=0, le=1000)
    # A snapshot is captured and encoded in a forked child, so the consume loop pauses only for the fork; a child
    # capturing a whole base took about 1.5x the shard's resident memory of its own (measured). False: captured under
    # the lock, encoded in a thread (services/evaluator/snapshot_fork.py).
    snapshot_fork: bool = True
    # A child is forked only while the memory still free to the shard (its cgroup's limit less its working set, and
    # the machine's MemAvailable) is at least this many times its resident size; else that snapshot is captured in
    # process (a pause, not an OOM kill). 0: always fork. (services/evaluator/memory_headroom.py)
    snapshot_fork_headroom: float = Field(default=1.5, ge=0, le=10)
    tick_interval: float = Field(default=1.0, gt=0)  # seconds between the ticks the driver records per shard
    fetch_batch: int = Field(default=500, ge=1, le=10_000)  # work messages per pull request
    shard_cpus: float | None = Field(default=None, ge=0)  # Ray CPUs reserved per shard actor; None: Ray's default
    ray_address: str | None = Field(default=None, validation_alias=AliasChoices("CEP_RAY_ADDRESS", "RAY_ADDRESS"))
    ray_num_cpus: int | None = Field(default=None, ge=1)
    # Ray starts its workers at nice 15, so on a busy machine the shards got the CPU last and alert latency
    # followed the machine's other load; shards are the product's hot path: normal priority unless said otherwise.
    shard_niceness: int = Field(default=0, ge=-20, le=19)
    # Allocations between young-generation garbage collections in a shard process (services/evaluator/collector.py);
    # 0 leaves Python's default (700).
    shard_gc_threshold: int = Field(default=DEFAULT_GC_THRESHOLD, ge=0, le=MAX_GC_THRESHOLD)
    # Partial matches a pattern rule holds per correlation key; past it the oldest is dropped and counted.
    pattern_max_partials: int = Field(default=DEFAULT_MAX_PARTIALS_PER_KEY, ge=1, le=MAX_PARTIALS_PER_KEY)
    # Seconds a pattern rule's event may come after a later one of its key (at most the rule's `within`): such an
    # event waits and is matched in event-time order; matches and deadlines come this much later in event time.
    pattern_lateness: float = Field(default=DEFAULT_LATENESS_SECONDS, ge=0, le=MAX_LATENESS_SECONDS)

    def shard_options(self) -> ShardOptions:
        """What every shard actor is built with (a plain value, so it crosses to Ray workers as is)."""
        return ShardOptions(
            shards=self.shards,
            snapshot_interval=self.snapshot_interval,
            delta_ratio=self.snapshot_delta_ratio,
            max_deltas=self.snapshot_max_deltas,
            snapshot_fork=self.snapshot_fork,
            snapshot_fork_headroom=self.snapshot_fork_headroom,
            fetch_batch=self.fetch_batch,
            log_level=self.log_level,
            series_per_rule=self.quota_series_per_rule,
            series_per_tenant=self.quota_series_per_tenant,
            niceness=self.shard_niceness,
            gc_threshold=self.shard_gc_threshold,
            pattern_max_partials=self.pattern_max_partials,
            pattern_lateness=self.pattern_lateness,
        )
