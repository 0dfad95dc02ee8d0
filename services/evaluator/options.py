"""What a shard actor is built with: a plain frozen value, so it crosses to Ray workers unchanged."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ShardOptions:
    """The shard count (for ownership), the snapshot cadence, the pull batch size and the log level."""

    shards: int = 2
    snapshot_interval: float = 5.0
    fetch_batch: int = 500
    fetch_timeout: float = 0.5  # seconds a pull waits when the shard is idle (ticks arrive every second anyway)
    chunk: int = 100  # events per engine call before yielding to the loop, so acks and heartbeats flow
    ack_wait: float = 60.0  # seconds before JetStream redelivers an un-acked work message
    log_level: str = "INFO"
