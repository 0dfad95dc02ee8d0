"""Settings of the ingest service (environment variables with the CEP_ prefix)."""

from __future__ import annotations

from pydantic import Field

from services.common.nats.router_partitions import MAX_PARTITIONS
from services.common.settings import ServiceSettings


class IngestSettings(ServiceSettings):
    """`CEP_INGEST_PORT` (ops HTTP: health, readiness, metrics), `CEP_SHARDS`, `CEP_ROUTE_BATCH`,
    `CEP_ROUTER_LEASE_SECONDS` (one replica routes a partition at a time, `services/common/nats/lease.py`),
    `CEP_ROUTER_PARTITIONS` (routers running at once, each for the tenants that hash to it, shared out among the
    replicas: `services/ingest/router_pool.py`; every replica must say the same; changing it hands over:
    `services/ingest/partition_handover.py`).

    `CEP_SHARDS` is the evaluator's shard count, used until the evaluator driver publishes its shard map.
    """

    ingest_port: int = 8081
    shards: int = Field(default=2, ge=1, le=256)
    route_batch: int = Field(default=500, ge=1, le=10_000)
    router_lease_seconds: float = Field(default=10.0, gt=0)  # replicas: a standby takes over within this period
    router_partitions: int = Field(default=1, ge=1, le=MAX_PARTITIONS)
    max_body_bytes: int = Field(default=1_048_576, gt=0)  # a NATS producer's message, as an HTTP body (the gateway)
