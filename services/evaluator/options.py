"""What a shard actor is built with: a plain frozen value, so it crosses to Ray workers unchanged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from services.common.domain.patterns.lateness import DEFAULT_LATENESS_SECONDS
from services.common.domain.patterns.matcher import DEFAULT_MAX_PARTIALS_PER_KEY
from services.common.domain.quotas.tenant_quotas import DEFAULT_SERIES_PER_RULE, DEFAULT_SERIES_PER_TENANT
from services.evaluator.collector import DEFAULT_GC_THRESHOLD


@dataclass(frozen=True)
class ShardOptions:
    """The shard count (for ownership), the snapshot cadence, the pull batch size, the log level, and the platform's
    default series quotas (a tenant's own, from the quota bucket, replace them)."""

    shards: int = 2
    snapshot_interval: float = 5.0
    fetch_batch: int = 500
    fetch_timeout: float = 0.5  # seconds a pull waits when the shard is idle (ticks arrive every second anyway)
    chunk: int = 100  # events per engine call before yielding to the loop, so acks and heartbeats flow
    ack_wait: float = 60.0  # seconds before JetStream redelivers an un-acked work message
    log_level: str = "INFO"
    series_per_rule: int = DEFAULT_SERIES_PER_RULE  # CEP_QUOTA_SERIES_PER_RULE
    series_per_tenant: int = DEFAULT_SERIES_PER_TENANT  # CEP_QUOTA_SERIES_PER_TENANT, enforced per shard
    niceness: int = 0  # CEP_SHARD_NICENESS: the actor process's nice value (Ray starts workers at 15)
    gc_threshold: int = DEFAULT_GC_THRESHOLD  # CEP_SHARD_GC_THRESHOLD: allocations between young-generation collections
    pattern_max_partials: int = DEFAULT_MAX_PARTIALS_PER_KEY  # CEP_PATTERN_MAX_PARTIALS: per key of a pattern rule
    pattern_lateness: float = DEFAULT_LATENESS_SECONDS  # CEP_PATTERN_LATENESS: seconds a pattern's event may be late
    delta_ratio: float = 0.5  # CEP_SNAPSHOT_DELTA_RATIO: a new base once the deltas outweigh this share of it
    max_deltas: int = 50  # CEP_SNAPSHOT_MAX_DELTAS: a new base after this many deltas whatever their size
    snapshot_fork: bool = True  # CEP_SNAPSHOT_FORK: capture and encode snapshots in a forked child (snapshot_fork.py)
    snapshot_fork_headroom: float = 1.5  # CEP_SNAPSHOT_FORK_HEADROOM: fork only with this x the resident size free

    @property
    def pattern_lateness_delta(self) -> timedelta:
        return timedelta(seconds=self.pattern_lateness)
