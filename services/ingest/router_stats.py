"""What the router counts: its status counters (`RouterStats`) and its Prometheus metrics, and the accounting of
each routed batch (events accepted, events dropped and why)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from prometheus_client import Gauge, Histogram

from services.common.ingest_metrics import INGEST_EVENTS
from services.ingest.routing import Routed

log = logging.getLogger("services.ingest.router")

CONSUMER_PENDING = Gauge(
    "cep_consumer_pending", "Messages a durable consumer has not been delivered yet", ["stream", "consumer"]
)
ROUTE_BATCH = Histogram(
    "cep_route_batch_seconds",
    "Time to route one batch of the raw stream (decode, publish work, confirm, ack)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


@dataclass
class RouterStats:
    """Counts since start, for status pages and tests."""

    batches: int = 0
    messages: int = 0
    other_partitions: int = 0  # raw messages of tenants another router partition routes (acked unread)
    work_published: int = 0
    work_duplicates: int = 0  # work messages JetStream had already stored (a replay)
    dropped: int = 0
    restarts: int = 0
    last_error: str | None = None
    pending: int | None = None
    shards: int = 0

    def account(self, outcomes: list[Routed], messages: int) -> None:
        """Count a routed batch of `messages` raw messages; log each event it dropped."""
        self.batches += 1
        self.messages += messages
        for routed in outcomes:
            if routed.counted:
                INGEST_EVENTS.labels("accepted").inc(routed.counted)
            for dropped in routed.dropped:
                self.dropped += 1
                INGEST_EVENTS.labels("rejected").inc()
                extra = {"tenant": dropped.tenant, "event_id": dropped.event_id}
                log.warning("dropped an event: %s", dropped.error, extra=extra)
