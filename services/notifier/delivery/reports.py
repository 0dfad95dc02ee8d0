"""The Daily Report in the notifier: a `daily_report` action's delivery asks the gateway for the report first.

The gateway holds the events (SQL), so the report is computed there (services/gateway/daily_reports.py) and asked
for over core NATS; the window ends at the run's `scheduled_at`, so every attempt of a run reports the same day.
The report joins the event as `report` (webhook bodies and templates see it); without a `message` template of the
action, the message is the report's text.
"""

from __future__ import annotations

from typing import Any, Protocol

import nats.errors
from nats.aio.client import Client

from services.common.domain.notify.reports import ReportWindow, window_seconds
from services.common.messages import codec
from services.common.messages.alerts import action_dict
from services.common.messages.delivery import DeliveryJob
from services.common.nats import subjects
from services.notifier.channels.base import Outcome

REQUEST_TIMEOUT_SECONDS = 10.0


class ReportSource(Protocol):
    """Where reports come from (the gateway, over NATS, in the service)."""

    async def daily(self, window: ReportWindow) -> dict[str, Any] | Outcome: ...


class NatsReports:
    """Asks the gateway (`cep.reports.daily`); no answer or an error answer is a failed attempt, retried."""

    def __init__(self, nc: Client, timeout: float = REQUEST_TIMEOUT_SECONDS) -> None:
        self.nc = nc
        self.timeout = timeout

    async def daily(self, window: ReportWindow) -> dict[str, Any] | Outcome:
        try:
            reply = await self.nc.request(subjects.DAILY_REPORT, codec.dumps(window.as_dict()), timeout=self.timeout)
        except nats.errors.NoRespondersError:
            return Outcome.failure("network", "no gateway answers daily report requests (is it running?)")
        except nats.errors.TimeoutError:
            return Outcome.failure("timeout", f"the gateway did not send the daily report within {self.timeout:g}s")
        answer = codec.loads(reply.data)
        if not isinstance(answer, dict) or not isinstance(answer.get("report"), dict):
            detail = answer.get("error") if isinstance(answer, dict) else None
            return Outcome.failure("network", f"the gateway could not build the daily report: {detail or 'no report'}")
        report: dict[str, Any] = answer["report"]
        return report


async def report_for(source: ReportSource | None, job: DeliveryJob) -> dict[str, Any] | Outcome:
    """The report a `daily_report` job sends: the tenant's events of the window before the run, not its own runs."""
    if source is None:
        return Outcome.failure("config", "this notifier cannot fetch daily reports")
    transition = job.transition
    window = ReportWindow(
        transition.tenant, transition.started_at, window_seconds(action_dict(job.action)), transition.rule_id
    )
    return await source.daily(window)
