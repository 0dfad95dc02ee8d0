"""Whether an instant falls inside a time interval, read on the wall clock of the interval's location.

Every constrained field must hold: the minute of the day within one of `times`, the weekday, day of month,
month and year within one of their ranges. A negative day of month counts back from the month's last day
(`-1` is the last day); a range running past a short month's end stops at its last day, and one starting after
it never matches, as in Alertmanager.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from services.common.domain.time_intervals.model import Span, TimeInterval


def contains(interval: TimeInterval, instant: datetime) -> bool:
    """Whether `instant` (tz-aware) is inside the interval."""
    local = instant.astimezone(ZoneInfo(interval.location))
    minute = local.hour * 60 + local.minute
    if interval.times is not None and not any(span.start <= minute < span.end for span in interval.times):
        return False
    if interval.days_of_month is not None and not any(_has_day(span, local) for span in interval.days_of_month):
        return False
    weekday = (local.weekday() + 1) % 7  # Python counts from Monday, Alertmanager from Sunday
    checks = ((interval.months, local.month), (interval.weekdays, weekday), (interval.years, local.year))
    return all(spans is None or _within(spans, value) for spans, value in checks)


def contains_any(intervals: Iterable[TimeInterval], instant: datetime) -> bool:
    """Whether any interval contains the instant (a named time interval is a list of them)."""
    return any(contains(interval, instant) for interval in intervals)


def _within(spans: tuple[Span, ...], value: int) -> bool:
    return any(span.begin <= value <= span.end for span in spans)


def _has_day(span: Span, local: datetime) -> bool:
    length = calendar.monthrange(local.year, local.month)[1]
    begin = length + span.begin + 1 if span.begin < 0 else span.begin
    end = length + span.end + 1 if span.end < 0 else span.end
    if begin > length:
        return False
    return max(begin, -length) <= local.day <= min(end, length)
