"""The shape every SQL -> KV publisher of the gateway shares (channels, polling targets, quotas): a component whose loop
reconciles the bucket from SQL, the system of record, at start and every interval, so a change whose mirror
write failed (NATS down at that moment) is repaired within one interval. Subclasses say which bucket and what
`reconcile` does; the routes call their publish/remove after each commit and before the response.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from nats.js.kv import KeyValue

from services.common.db.sql_engine import Database
from services.gateway.nats.bus import GatewayBus

log = logging.getLogger(__name__)

RECONCILE_SECONDS = 30.0
PUBLISH_WAIT_SECONDS = 5.0


class KvPublisher:
    bucket: str  # the KV bucket mirrored into
    what: str  # for task names and log lines: "channel", "polling target"

    def __init__(self, bus: GatewayBus, db: Database, interval: float = RECONCILE_SECONDS) -> None:
        self.bus = bus
        self.db = db
        self.interval = interval
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._stop.clear()
        name = f"{self.what.replace(' ', '-')}-reconciler"
        self._task = asyncio.create_task(self.keep_reconciled(self._stop), name=name)

    async def stop(self) -> None:
        # Stopped by the event, never cancelled: cancelling an aiosqlite call mid-flight can hang the shutdown.
        self._stop.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def _bucket(self, name: str | None = None) -> KeyValue:
        with contextlib.suppress(TimeoutError):
            await self.bus.wait_ready(timeout=PUBLISH_WAIT_SECONDS)  # just after start-up: wait, then 503
        return await self.bus.js.key_value(name or self.bucket)

    async def reconcile(self) -> Any:
        """Bring the bucket to what SQL holds."""
        raise NotImplementedError

    async def keep_reconciled(self, stop: asyncio.Event) -> None:
        """Reconcile at start and then every interval until `stop` is set."""
        while not stop.is_set():
            try:
                if self.bus.is_ready:
                    await self.reconcile()
            except Exception as exc:
                log.warning("%s reconciliation failed: %s", self.what, type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval if self.bus.is_ready else 0.2)
