"""SQL behind the operations dashboard: counts, per-day series, top rules, delivery tallies and mean times.

Every function takes the `EventFilter` whose events it measures and applies it with the same predicate as
`GET /cep/events`, so each figure can name the list of events behind it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Subquery, distinct, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.common.db.tables import ChannelRow, EventRow
from services.gateway.store.event_filters import EventFilter, matching
from services.gateway.store.portable import dialect_of, element_text, json_elements, seconds_between, utc_day


@dataclass(frozen=True)
class RuleCount:
    """How many of a rule's events matched (`rule_name`: the greatest name seen on them, should it have changed)."""

    rule_id: str
    rule_name: str
    count: int


@dataclass(frozen=True)
class DayCount:
    """Per UTC day (`YYYY-MM-DD`): matching rows and the distinct events among them."""

    rows: int
    events: int


async def count_events(session: AsyncSession, tenant: str, filters: EventFilter) -> int:
    """How many events `GET /cep/events` lists for these filters (its `total`)."""
    query = select(func.count()).select_from(EventRow).where(matching(tenant, filters, dialect_of(session)))
    return int((await session.execute(query)).scalar_one())


async def events_by_day(session: AsyncSession, tenant: str, filters: EventFilter) -> dict[str, int]:
    """Matching events per UTC day of `fired_at` (days without events are absent)."""
    day = utc_day(col(EventRow.fired_at), dialect_of(session)).label("day")
    query = select(day, func.count()).where(matching(tenant, filters, dialect_of(session))).group_by(day)
    return {str(d): int(n) for d, n in (await session.execute(query)).all()}


def _entries(session: AsyncSession, tenant: str, filters: EventFilter) -> Subquery:
    """One row per `notifications[]` entry of the matching events: event, day, status, channel key."""
    dialect = dialect_of(session)
    entry = json_elements(col(EventRow.notifications), dialect, "entry")
    channel_key = func.coalesce(element_text(entry, "channel_id"), element_text(entry, "channel"))
    return (
        select(
            col(EventRow.event_id).label("event_id"),
            utc_day(col(EventRow.fired_at), dialect).label("day"),
            element_text(entry, "status").label("status"),
            channel_key.label("channel"),
        )
        .select_from(EventRow)
        .join(entry, true())
        .where(matching(tenant, filters, dialect))
        .subquery("entries")
    )


async def notifications_by_day(
    session: AsyncSession, tenant: str, filters: EventFilter, status: str
) -> dict[str, DayCount]:
    """Per UTC day: the notification entries in `status` of the matching events, and how many events have one."""
    entries = _entries(session, tenant, filters)
    query = (
        select(entries.c.day, func.count(), func.count(distinct(entries.c.event_id)))
        .where(entries.c.status == status)
        .group_by(entries.c.day)
    )
    return {str(d): DayCount(int(rows), int(events)) for d, rows, events in (await session.execute(query)).all()}


async def notifications_by_channel(session: AsyncSession, tenant: str, filters: EventFilter) -> dict[str, Counter[str]]:
    """Per channel (its id, or the name the action used when no channel was resolved): entries by status."""
    entries = _entries(session, tenant, filters)
    query = (
        select(entries.c.channel, entries.c.status, func.count())
        .where(entries.c.channel.is_not(None))
        .group_by(entries.c.channel, entries.c.status)
    )
    out: dict[str, Counter[str]] = {}
    for channel, status, count in (await session.execute(query)).all():
        out.setdefault(str(channel), Counter())[str(status)] += int(count)
    return out


async def channel_names(session: AsyncSession, tenant: str, ids: list[str]) -> dict[str, str]:
    """The names of the tenant's channels among `ids` (deleted channels included: their deliveries still count)."""
    if not ids:
        return {}
    query = select(col(ChannelRow.channel_id), col(ChannelRow.name)).where(
        col(ChannelRow.tenant) == tenant, col(ChannelRow.channel_id).in_(ids)
    )
    return {str(i): str(n) for i, n in (await session.execute(query)).all()}


async def top_rules(session: AsyncSession, tenant: str, filters: EventFilter, limit: int) -> list[RuleCount]:
    """The rules with the most matching events, most first (ties by rule id)."""
    count = func.count().label("n")
    query = (
        select(col(EventRow.rule_id), func.max(col(EventRow.rule_name)), count)
        .where(matching(tenant, filters, dialect_of(session)))
        .group_by(col(EventRow.rule_id))
        .order_by(count.desc(), col(EventRow.rule_id))
        .limit(limit)
    )
    return [RuleCount(str(r), str(name), int(n)) for r, name, n in (await session.execute(query)).all()]


async def mean_seconds_to(session: AsyncSession, tenant: str, filters: EventFilter, end: Any) -> float | None:
    """The mean of `end - fired_at` in seconds over matching events where `end` (a column) is set."""
    span = seconds_between(col(EventRow.fired_at), end, dialect_of(session))
    query = select(func.avg(span)).where(matching(tenant, filters, dialect_of(session)), end.is_not(None))
    value = (await session.execute(query)).scalar_one()
    return None if value is None else round(float(value), 3)


async def oldest_fired(session: AsyncSession, tenant: str, filters: EventFilter) -> datetime | None:
    """When the oldest matching event fired (None when none match)."""
    query = select(func.min(col(EventRow.fired_at))).where(matching(tenant, filters, dialect_of(session)))
    value: datetime | None = (await session.execute(query)).scalar_one()
    return value
