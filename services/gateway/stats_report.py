"""The operations dashboard's figures, each built from an EventFilter so it carries the list of its events."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.common.db.tables import EventRow
from services.common.domain.events.model import format_time
from services.common.domain.schedules.cron import LATE_AFTER_MS
from services.gateway.schemas import stats as wire
from services.gateway.store import schedule_runs, stats
from services.gateway.store.event_filters import EventFilter
from services.gateway.store.feedback import rule_precision

DAY = timedelta(days=1)
TICK = timedelta(microseconds=1)


def figure(value: float | None, events: int, filters: EventFilter) -> dict[str, Any]:
    """The fields every figure has: the value, the events behind it and the list that shows them."""
    return {"value": value, "events": events, "query": filters.query(), "href": filters.href()}


def ratio(part: int, whole: int) -> float | None:
    """`part / whole` to 4 places, or None for an empty whole."""
    return round(part / whole, 4) if whole else None


def utc_days(since: datetime, until: datetime) -> list[tuple[str, datetime, datetime]]:
    """Each UTC day the range touches: (YYYY-MM-DD, first instant in range, last instant in range)."""
    out: list[tuple[str, datetime, datetime]] = []
    start = since.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    while start <= until:
        out.append((start.date().isoformat(), max(start, since), min(start + DAY - TICK, until)))
        start += DAY
    return out


async def days(session: AsyncSession, tenant: str, base: EventFilter) -> list[wire.DayFigures]:
    """Per UTC day of the range: events fired, and failed notifications of those events."""
    fired = await stats.events_by_day(session, tenant, base)
    failed = await stats.notifications_by_day(session, tenant, base, "failed")
    out: list[wire.DayFigures] = []
    assert base.since is not None and base.until is not None
    for day, first, last in utc_days(base.since, base.until):
        bounds = replace(base, since=first, until=last)
        count = fired.get(day, 0)
        failures = failed.get(day, stats.DayCount(0, 0))
        failed_filter = replace(bounds, notification_status="failed")
        out.append(
            wire.DayFigures(
                day=day,
                events=wire.Figure(**figure(count, count, bounds)),
                failed_notifications=wire.Figure(**figure(failures.rows, failures.events, failed_filter)),
            )
        )
    return out


async def failed_notifications(session: AsyncSession, tenant: str, base: EventFilter) -> wire.Figure:
    """Failed notification entries of the range's events; `events`: the events with at least one."""
    per_day = await stats.notifications_by_day(session, tenant, base, "failed")
    filters = replace(base, notification_status="failed")
    events = await stats.count_events(session, tenant, filters)
    return wire.Figure(**figure(sum(d.rows for d in per_day.values()), events, filters))


async def backlog(session: AsyncSession, tenant: str, until: datetime) -> wire.Backlog:
    """Open (un-acknowledged, unresolved) events fired at or before `until`."""
    filters = EventFilter(status="open", until=until)
    count = await stats.count_events(session, tenant, filters)
    oldest = await stats.oldest_fired(session, tenant, filters)
    return wire.Backlog(
        **figure(count, count, filters), oldest_fired_at=None if oldest is None else format_time(oldest)
    )


async def precision(session: AsyncSession, tenant: str, base: EventFilter) -> wire.Precision:
    """Precision of the range's anomaly events from their feedback labels, overall and per rule."""
    anomaly = replace(base, trigger_type="anomaly", feedback="any")
    rules: list[wire.RulePrecision] = []
    found = await rule_precision(session, tenant, filters=anomaly)
    for rule_id, labels in sorted(found.items()):  # labelled events only (`feedback=any`): none without a label
        rules.append(
            wire.RulePrecision(
                **figure(
                    ratio(labels.true_positive, labels.labelled), labels.labelled, replace(anomaly, rule_id=rule_id)
                ),
                rule_id=rule_id,
                rule_name=labels.rule_name,
                true_positive=labels.true_positive,
                false_positive=labels.false_positive,
            )
        )
    tp, fp = sum(r.true_positive for r in rules), sum(r.false_positive for r in rules)
    return wire.Precision(
        **figure(ratio(tp, tp + fp), tp + fp, anomaly), true_positive=tp, false_positive=fp, rules=rules
    )


async def scheduler(
    session: AsyncSession, tenant: str, base: EventFilter, live: tuple[dict[str, Any] | None, int] | None
) -> wire.SchedulerHealth:
    """Runs, missed and late runs over the range (schedule_runs) with the live leader: healthy when none is amiss.

    `live` is (leader, live replicas) from the scheduler's live bucket, or None when it could not be read.
    """
    assert base.since is not None and base.until is not None
    runs = schedule_runs.RunFilter(since=base.since, until=base.until)
    figures = await schedule_runs.figures(session, tenant, runs, LATE_AFTER_MS)
    filters = replace(base, trigger_type="schedule")
    events = await stats.count_events(session, tenant, filters)
    leader = live[0].get("instance") if live and live[0] else None
    reasons = [] if live is not None else ["the scheduler's live state could not be read"]
    if live is not None and leader is None:
        reasons.append("no scheduler leader")
    if figures.missed_runs:
        reasons.append(f"{figures.missed_runs} missed runs")
    if figures.late_runs:
        reasons.append(f"{figures.late_runs} late runs")
    window = {"since": format_time(base.since), "until": format_time(base.until)}
    return wire.SchedulerHealth(
        healthy=not reasons,
        reasons=reasons,
        leader=None if leader is None else str(leader),
        instances=None if live is None else live[1],
        runs=figures.runs,
        missed_runs=figures.missed_runs,
        late_runs=figures.late_runs,
        delay_p99_ms=figures.p99,
        schedule_events=wire.Figure(**figure(events, events, filters)),
        runs_href="/cep/scheduler/runs?" + urlencode(window),
        missed_href="/cep/scheduler/runs?" + urlencode({"status": "missed", **window}),
    )


async def rules_by(session: AsyncSession, tenant: str, filters: EventFilter, top: int) -> list[wire.RuleFigure]:
    """The `top` rules with the most events matching `filters`, each with its own list."""
    out: list[wire.RuleFigure] = []
    for rule in await stats.top_rules(session, tenant, filters, top):
        own = replace(filters, rule_id=rule.rule_id)
        out.append(
            wire.RuleFigure(**figure(rule.count, rule.count, own), rule_id=rule.rule_id, rule_name=rule.rule_name)
        )
    return out


async def channel_failure_rates(session: AsyncSession, tenant: str, base: EventFilter) -> list[wire.ChannelFigure]:
    """Per channel: sent and failed deliveries of the range's events, the failure rate, the failed events' list."""
    tally = await stats.notifications_by_channel(session, tenant, base)
    names = await stats.channel_names(session, tenant, sorted(tally))
    out: list[wire.ChannelFigure] = []
    for channel, counts in tally.items():
        sent, failed = counts["sent"], counts["failed"]
        filters = replace(base, notification_status="failed", channel=channel)
        events = await stats.count_events(session, tenant, filters) if failed else 0
        out.append(
            wire.ChannelFigure(
                **figure(ratio(failed, sent + failed), events, filters),
                channel=channel,
                channel_id=channel if channel in names else None,
                name=names.get(channel, channel),
                sent=sent,
                failed=failed,
            )
        )
    out.sort(key=lambda c: (-(c.value or 0.0), -c.failed, c.name))
    return out


async def mean_time(session: AsyncSession, tenant: str, filters: EventFilter, end: Any) -> wire.Figure:
    """The mean seconds from `fired_at` to `end` over the events `filters` lists."""
    events = await stats.count_events(session, tenant, filters)
    return wire.Figure(**figure(await stats.mean_seconds_to(session, tenant, filters, end), events, filters))


async def weekly(session: AsyncSession, tenant: str, base: EventFilter, top: int) -> dict[str, Any]:
    """The weekly review figures of the range (`base`: its since/until)."""
    return {
        "top_rules_by_firings": await rules_by(session, tenant, base, top),
        "top_rules_by_false_positives": await rules_by(session, tenant, replace(base, feedback="false_positive"), top),
        "channel_failure_rates": await channel_failure_rates(session, tenant, base),
        "mean_time_to_acknowledge": await mean_time(session, tenant, replace(base, acked=True), col(EventRow.acked_at)),
        "mean_time_to_recover": await mean_time(
            session, tenant, replace(base, status="resolved"), col(EventRow.resolved_at)
        ),
    }
