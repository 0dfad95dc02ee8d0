"""The open alerts of each tenant (fired or updated, not yet resolved) with their labels: the sources inhibition
looks for.

They live in the KV bucket `cep-open-alerts`, key `<tenant>.<event_id>`, written by the notifier from the alert
stream it consumes (the muting stage: a fired or updated alert opens, a resolved one closes) once a batch's
decisions are published, and read through a watch (`OpenAlertMirror`). A KV bucket rather than a rebuild from the
alert stream: the stream keeps only so much (its retention is days, an alert may be open for weeks), and every
replica of the notifier, and a restarted one, then sees the same open alerts at once, as it sees the same noise
state. An episode never reopens once resolved, so a stale put the watch delivers after this process closed the
alert is ignored (the ids closed here recently are remembered).

A closed alert leaves a delete marker in the bucket; `sweep` removes the markers older than MARKER_KEPT_SECONDS
(every SWEEP_SECONDS, in the service), so the bucket holds about the open alerts and no trace of every alert that
ever closed.

A tenant holds at most `limit` open alerts (`CEP_OPEN_ALERTS_PER_TENANT`, default 10,000): past it, a newly open
alert is not recorded, is counted (`cep_open_alerts_refused_total`) and logged, and inhibits nothing.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext
from nats.js.kv import KeyValue

from services.common.domain.inhibition.source_index import OpenAlert
from services.common.messages.muting import OpenAlertEntry
from services.common.nats import subjects
from services.notifier.metrics import OPEN_ALERTS_REFUSED
from services.notifier.muting.mirrors import OpenAlertMirror

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 10_000
SWEEP_SECONDS = 3600.0
MARKER_KEPT_SECONDS = 600.0  # a live watch got the marker long before; a new watch does not need it
SWEEP_BATCH = 512  # last entries read per fetch by the sweep
SWEEP_FETCH_SECONDS = 2.0
RECENTLY_CLOSED_KEPT = 10_000  # far more than a watch can lag behind this process's own writes


class ClosingMirror(OpenAlertMirror):
    """The open-alert mirror that ignores a put for an alert this process has closed (a watch lagging behind)."""

    def __init__(self) -> None:
        super().__init__()
        self.closed: set[str] = set()
        self.closed_order: deque[str] = deque()

    def remember_closed(self, key: str) -> None:
        if key in self.closed:
            return
        self.closed.add(key)
        self.closed_order.append(key)
        if len(self.closed_order) > RECENTLY_CLOSED_KEPT:
            self.closed.discard(self.closed_order.popleft())

    def apply(self, key: str, value: bytes | None, deleted: bool) -> None:
        if not deleted and value and key in self.closed:
            return
        super().apply(key, value, deleted)


class OpenAlerts:
    """Each tenant's open alerts: read from the mirror, opened and closed in the bucket and the mirror at once."""

    def __init__(self, kv: KeyValue, mirror: ClosingMirror, limit: int = DEFAULT_LIMIT) -> None:
        self.kv = kv
        self.mirror = mirror
        self.limit = limit

    def of_tenant(self, tenant: str) -> Mapping[str, OpenAlertEntry]:
        """The tenant's open alerts by event id, as recorded so far (the mirror's own index: read, never change)."""
        return self.mirror.by_tenant.get(tenant, {})

    def count(self, tenant: str) -> int:
        return len(self.mirror.by_tenant.get(tenant, {}))

    async def open(self, tenant: str, entry: OpenAlertEntry) -> None:
        key = subjects.tenant_item_key(tenant, entry.alert.event_id)
        value = entry.encode()
        await self.kv.put(key, value)
        self.mirror.apply(key, value, deleted=False)

    async def close(self, tenant: str, event_id: str) -> None:
        key = subjects.tenant_item_key(tenant, event_id)
        self.mirror.remember_closed(key)
        await self.kv.delete(key)
        self.mirror.apply(key, None, deleted=True)


async def sweep(js: JetStreamContext, older_than: float = MARKER_KEPT_SECONDS) -> int:
    """Remove the delete markers older than `older_than` seconds that closed alerts left; how many were removed.

    Reads the last entry of every key with a headers-only pull consumer until none is pending (a KV watch may
    signal "no more" before it delivered what was there when the machine is busy; nats-py's `purge_deletes` also
    never stops its watch)."""
    stream = f"KV_{subjects.OPEN_ALERTS_BUCKET}"
    prefix = f"$KV.{subjects.OPEN_ALERTS_BUCKET}."
    config = ConsumerConfig(deliver_policy=DeliverPolicy.LAST_PER_SUBJECT, ack_policy=AckPolicy.NONE, headers_only=True)
    sub = await js.pull_subscribe(prefix + ">", stream=stream, config=config)
    markers: list[tuple[str, datetime]] = []
    try:
        while True:
            try:
                msgs = await sub.fetch(SWEEP_BATCH, timeout=SWEEP_FETCH_SECONDS)
            except TimeoutError:
                break
            for msg in msgs:
                if (msg.headers or {}).get("KV-Operation") in ("DEL", "PURGE"):
                    markers.append((msg.subject, msg.metadata.timestamp))
            if not msgs or msgs[-1].metadata.num_pending == 0:
                break
    finally:
        await sub.unsubscribe()
    now = datetime.now(UTC)
    old = [subject for subject, created in markers if (now - created).total_seconds() >= older_than]
    for subject in old:  # an episode never reopens: nothing newer can be under the key
        await js.purge_stream(stream, subject=subject)
    return len(old)


def refuse(tenant: str, alert: OpenAlert, limit: int) -> None:
    """Count and log an open alert past the tenant's limit (it is not recorded, so it inhibits nothing)."""
    OPEN_ALERTS_REFUSED.inc()
    log.warning(
        "tenant %s has %d open alerts already (CEP_OPEN_ALERTS_PER_TENANT); event %s inhibits nothing",
        tenant,
        limit,
        alert.event_id,
        extra={"tenant": tenant, "event_id": alert.event_id},
    )
