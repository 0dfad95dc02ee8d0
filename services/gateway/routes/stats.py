"""Stats routes for the operations dashboard (viewer; tenant-scoped): daily and weekly figures computed in SQL.

Every figure names the events behind it: `query` holds the `GET /cep/events` filters that list them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import nats.errors
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from services.common.domain.events.model import format_time
from services.gateway import stats_report as report
from services.gateway.auth import Principal, viewer
from services.gateway.instance_names import naming
from services.gateway.live.scheduler_replicas import read_live
from services.gateway.rest.problems import Problem, invalid_field
from services.gateway.rest.times import UtcTime
from services.gateway.schemas.stats import DailyStats, Figure, WeeklyStats
from services.gateway.state import state_of
from services.gateway.store.event_filters import EventFilter

router = APIRouter(tags=["stats"])
DAILY_DAYS = 7
WEEK = timedelta(days=7)
MAX_RANGE = timedelta(days=366)
Since = Annotated[UtcTime | None, Query(description="RFC 3339; events fired at or after it")]
Until = Annotated[UtcTime | None, Query(description="RFC 3339; events fired at or before it (default: now)")]


def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _range(
    since: datetime | None, until: datetime | None, default_since: Callable[[datetime], datetime]
) -> EventFilter:
    """The base filter of a stats request: fired within [since, until] (`until` defaults to now, `since` to
    `default_since(until)`), checked (422 naming the field)."""
    end = _utc(until) or datetime.now(UTC).replace(microsecond=0)
    start = _utc(since) or default_since(end)
    if start > end:
        raise invalid_field(("since",), "must not be after `until`")
    if end - start > MAX_RANGE:
        raise invalid_field(("since",), f"the range may span at most {MAX_RANGE.days} days")
    return EventFilter(since=start, until=end)


def _days_before(end: datetime) -> datetime:
    """The start of the UTC day DAILY_DAYS - 1 days before `end`'s: the daily figures' default range."""
    midnight = end.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight - timedelta(days=DAILY_DAYS - 1)


async def _live(request: Request, principal: Principal) -> tuple[dict[str, Any] | None, int] | None:
    """(leader, live replicas) of the scheduler, or None when its live bucket cannot be read now.

    The leader's instance id is `host:pid`: a tenant sees its opaque name instead, as on the scheduler routes.
    """
    try:
        leader, instances = await read_live(state_of(request).bus.js)
    except (Problem, nats.errors.Error, TimeoutError):
        return None
    if leader and leader.get("instance"):
        leader = {**leader, "instance": naming(request, principal)(str(leader["instance"]))}
    return leader, len(instances)


@router.get("/cep/stats/daily", responses={200: {"model": DailyStats, "description": "the daily figures"}})
async def daily_stats(
    request: Request, principal: Principal = Depends(viewer), since: Since = None, until: Until = None
) -> Response:
    """Events per day, the ACK backlog, failed notifications, scheduler health and anomaly precision.

    Default range: the 7 UTC days up to `until` (default now), its day included. Each figure carries the event
    list behind it.
    """
    base = _range(since, until, _days_before)
    assert base.since is not None and base.until is not None
    live = await _live(request, principal)
    tenant = principal.tenant
    async with state_of(request).db.read() as session:
        days = await report.days(session, tenant, base)
        fired = sum(d.events.events for d in days)
        body = DailyStats(
            since=format_time(base.since),
            until=format_time(base.until),
            days=days,
            events=Figure(**report.figure(fired, fired, base)),
            ack_backlog=await report.backlog(session, tenant, base.until),
            failed_notifications=await report.failed_notifications(session, tenant, base),
            scheduler=await report.scheduler(session, tenant, base, live),
            anomaly_precision=await report.precision(session, tenant, base),
        )
    return JSONResponse(body.model_dump())


@router.get("/cep/stats/weekly", responses={200: {"model": WeeklyStats, "description": "the weekly figures"}})
async def weekly_stats(
    request: Request,
    principal: Principal = Depends(viewer),
    since: Since = None,
    until: Until = None,
    top: Annotated[int, Query(ge=1, le=50, description="how many rules in each top list")] = 5,
) -> Response:
    """Top rules by firings and by false positives, channel failure rates, mean time to acknowledge and to recover.

    Default range: the last 7 days. Each figure carries the event list behind it.
    """
    base = _range(since, until, lambda end: end - WEEK)
    assert base.since is not None and base.until is not None
    async with state_of(request).db.read() as session:
        figures = await report.weekly(session, principal.tenant, base, top)
    body = WeeklyStats(since=format_time(base.since), until=format_time(base.until), **figures)
    return JSONResponse(body.model_dump())
