"""Declare the JetStream streams and KV buckets every service relies on; idempotent, run by each at start."""

from __future__ import annotations

import logging
import os
from dataclasses import replace

from nats.js.api import (
    DiscardPolicy,
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.client import JetStreamContext
from nats.js.errors import BadRequestError, NotFoundError
from nats.js.kv import KeyValue

from services.common.nats import subjects

log = logging.getLogger(__name__)

DAY = 86_400.0
DUPLICATE_WINDOW = 120.0  # JetStream's de-duplication window; idempotent consumers do the rest


def _stream(name: str, subject_list: list[str], max_age: float) -> StreamConfig:
    # Limits retention everywhere: consumers that rebuild state replay acked messages (WorkQueue would drop them).
    return StreamConfig(
        name=name,
        subjects=subject_list,
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=max_age,
        duplicate_window=DUPLICATE_WINDOW,
    )


STREAMS = (
    _stream(
        subjects.EVENTS_STREAM,
        [f"{subjects.INGEST_PREFIX}.*", f"{subjects.INTERNAL_PREFIX}.*", subjects.CONTROL_RULES],
        7 * DAY,
    ),
    _stream(subjects.WORK_STREAM, [f"{subjects.WORK_PREFIX}.*"], 2 * DAY),
    _stream(subjects.ALERTS_STREAM, [f"{subjects.ALERTS_PREFIX}.*", f"{subjects.ACKS_PREFIX}.*"], 7 * DAY),
    _stream(subjects.DELIVERY_STREAM, [f"{subjects.DELIVERY_PREFIX}.*"], 7 * DAY),
    _stream(subjects.RESULTS_STREAM, [f"{subjects.RESULTS_PREFIX}.*"], 7 * DAY),
    # Dead letters, and the advisories of consumers giving up on a message (the gateway records both).
    _stream(subjects.DEAD_STREAM, [f"{subjects.DEAD_PREFIX}.*", subjects.MAX_DELIVERIES_ADVISORIES], 30 * DAY),
    _stream(subjects.SCHEDULE_RUNS_STREAM, [f"{subjects.SCHEDULE_RUNS_PREFIX}.>"], 7 * DAY),
)

BUCKETS = (
    KeyValueConfig(bucket=subjects.RULES_BUCKET, history=5, storage=StorageType.FILE),
    KeyValueConfig(bucket=subjects.CHANNELS_BUCKET, history=5, storage=StorageType.FILE),
    KeyValueConfig(bucket=subjects.SNAPSHOTS_BUCKET, history=2, storage=StorageType.FILE, max_value_size=8 << 20),
    KeyValueConfig(bucket=subjects.CONTROL_BUCKET, history=5, storage=StorageType.FILE),
    # Noise state outlives any cooldown or storm window an operator would set; older entries expire.
    KeyValueConfig(bucket=subjects.NOISE_BUCKET, history=1, storage=StorageType.FILE, ttl=2 * DAY),
    # A sent record outlives the delivery stream's messages, so no redelivered job is ever sent twice.
    KeyValueConfig(bucket=subjects.SENT_BUCKET, history=1, storage=StorageType.FILE, ttl=8 * DAY),
    KeyValueConfig(bucket=subjects.SCHEDULER_BUCKET, history=1, storage=StorageType.FILE),  # schedule cursors
    KeyValueConfig(bucket=subjects.POLLING_BUCKET, history=5, storage=StorageType.FILE),  # polling targets
    # The latest snapshot per target, written by the scheduler leader after every poll.
    KeyValueConfig(bucket=subjects.POLLING_SNAPSHOTS_BUCKET, history=1, storage=StorageType.FILE),
    # Each tenant's effective quotas (services/common/domain/quotas/tenant_quotas.py), mirrored from SQL by the gateway.
    KeyValueConfig(bucket=subjects.QUOTAS_BUCKET, history=1, storage=StorageType.FILE),
    # Silences and inhibit rules per tenant, mirrored from SQL by the gateway for the notifier's muting stages.
    KeyValueConfig(bucket=subjects.SILENCES_BUCKET, history=1, storage=StorageType.FILE),
    KeyValueConfig(bucket=subjects.INHIBIT_RULES_BUCKET, history=1, storage=StorageType.FILE),
    # Each tenant's notification policy (routing tree, receivers, time intervals), mirrored from SQL by the gateway.
    KeyValueConfig(bucket=subjects.NOTIFICATION_POLICIES_BUCKET, history=5, storage=StorageType.FILE),
    KeyValueConfig(bucket=subjects.OPEN_ALERTS_BUCKET, history=1, storage=StorageType.FILE),  # inhibition sources
)


def jetstream_replicas() -> int:
    """How many copies JetStream keeps of every stream and bucket: `CEP_JETSTREAM_REPLICAS`, 1 unless NATS is a
    cluster (3 on the Kubernetes StatefulSet). Read where streams are declared, so every service agrees."""
    return int(os.environ.get("CEP_JETSTREAM_REPLICAS") or 1)


async def ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    """Create a stream, or bring an existing one to this configuration."""
    config = replace(config, num_replicas=jetstream_replicas())
    try:
        await js.add_stream(config)
    except BadRequestError:
        await js.update_stream(config)


async def ensure_streams(js: JetStreamContext) -> None:
    """Every shared stream and bucket (feed streams are per tenant: `ensure_feed_stream`)."""
    for config in STREAMS:
        await ensure_stream(js, config)
    for bucket in BUCKETS:
        await ensure_bucket(js, bucket)


async def ensure_bucket(js: JetStreamContext, config: KeyValueConfig) -> KeyValue:
    try:
        return await js.key_value(config.bucket)
    except (NotFoundError, BadRequestError):
        return await js.create_key_value(replace(config, replicas=jetstream_replicas()))


async def ensure_feed_stream(js: JetStreamContext, tenant: str) -> str:
    """The tenant's feed stream (SSE ids are its sequence numbers); returns its name."""
    name = subjects.feed_stream(tenant)
    await ensure_stream(js, _stream(name, [subjects.feed_subject(tenant)], 1 * DAY))
    return name


async def ensure_scheduler_live_bucket(js: JetStreamContext, lease_seconds: float) -> KeyValue:
    """The scheduler's lease and heartbeat bucket: every key expires `lease_seconds` after its last write.

    The TTL is the lease period (a setting), so the scheduler declares this bucket itself and brings an existing
    one to its period; every replica must use the same period.
    """
    kv = await ensure_bucket(
        js,
        KeyValueConfig(bucket=subjects.SCHEDULER_LIVE_BUCKET, history=1, ttl=lease_seconds, storage=StorageType.FILE),
    )
    info = await js.stream_info(f"KV_{subjects.SCHEDULER_LIVE_BUCKET}")
    if info.config.max_age != lease_seconds:
        info.config.max_age = lease_seconds
        info.config.duplicate_window = min(lease_seconds, DUPLICATE_WINDOW)
        await js.update_stream(info.config)
    return kv
