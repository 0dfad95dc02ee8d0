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

from services.common.db.sql_engine import Database
from services.common.domain.notify.reports import ReportWindow, build_report
from services.common.messages import codec
from services.common.nats import subjects
from services.gateway.nats.bus import GatewayBus
from services.gateway.nats.queue_subscription import QueueSubscription
from services.gateway.store.reports import event_counts

log = logging.getLogger(__name__)


class DailyReports:
    """A gateway component: subscribes to the report requests once NATS is up, answers each from SQL."""

    def __init__(self, bus: GatewayBus, db: Database) -> None:
        self.bus = bus
        self.db = db
        self._subscription = QueueSubscription(
            bus, subjects.DAILY_REPORT, subjects.GATEWAY_REPORTS_QUEUE, "daily-reports", self._on_request
        )
        self._answering: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self._subscription.start()

    async def stop(self) -> None:
        await self._subscription.stop()
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
