"""The Daily Report's data: the gateway answers the notifier's report requests from SQL (core NATS request/reply).

Why here: events live in SQL and only the gateway reads SQL, so the notifier asks (`cep.reports.daily`, queue group
so gateway replicas share the requests) with the tenant and the window; the answer is the report itself. The window
ends at the schedule run's `scheduled_at`, so a retried delivery reports the same day. No answer (the gateway is
down) is a failed attempt, retried like any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from services.common import codec, subjects
from services.common.db.engine import Database
from services.common.domain.reports import ReportWindow, build_report
from services.gateway.bus import GatewayBus
from services.gateway.store.reports import event_counts

log = logging.getLogger(__name__)


class DailyReports:
    """A gateway component: subscribes to the report requests once NATS is up, answers each from SQL."""

    def __init__(self, bus: GatewayBus, db: Database) -> None:
        self.bus = bus
        self.db = db
        self._task: asyncio.Task[None] | None = None
        self._sub: Subscription | None = None
        self._answering: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._subscribe(), name="daily-reports")

    async def _subscribe(self) -> None:
        while self._sub is None:
            await self.bus.wait_ready()
            try:
                self._sub = await self.bus.client.subscribe(
                    subjects.DAILY_REPORT, queue=subjects.GATEWAY_REPORTS_QUEUE, cb=self._on_request
                )
            except Exception as exc:  # dropped between ready and subscribe: try again
                log.warning("daily reports: subscribing failed: %s", exc)
                await asyncio.sleep(0.5)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
        await asyncio.gather(*self._answering, return_exceptions=True)  # let SQL reads finish, never cancel them

    async def _on_request(self, msg: Msg) -> None:
        # Answered in a task of our own: unsubscribing cancels the subscription's task, which must not be in SQL.
        task = asyncio.create_task(self._answer(msg), name="daily-report")
        self._answering.add(task)
        task.add_done_callback(self._answering.discard)

    async def _answer(self, msg: Msg) -> None:
        try:
            window = ReportWindow.from_dict(codec.loads(msg.data))
            if not subjects.valid_tenant(window.tenant):
                raise ValueError(f"invalid tenant {window.tenant[:70]!r}")
            async with self.db.read() as session:
                counts = await event_counts(session, window)
            answer: dict[str, Any] = {"report": build_report(window, counts)}
        except Exception as exc:  # a bad request gets an error answer, never silence the asker waits out
            log.warning("daily reports: could not answer a request: %s", exc)
            answer = {"error": str(exc)[:300]}
        with contextlib.suppress(Exception):  # the asker gave up, or the connection is closing
            await msg.respond(codec.dumps(answer))
