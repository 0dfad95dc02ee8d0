"""Time intervals as Alertmanager's configuration writes them, parsed and checked into frozen models.

An interval lists `times` (`HH:MM` to `HH:MM`, end excluded, `24:00` allowed), `weekdays` (`monday:friday`),
`days_of_month` (`1:7`, `-1` for the last day), `months` (`january:march` or `1:3`) and `years` (`2024:2025`),
each a list of inclusive ranges, and a `location` (an IANA time zone, UTC when absent). A field left out does not
constrain; a field given as an empty list matches nothing, as in Alertmanager. Names are case-insensitive.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict

WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
MONTHS: tuple[str, ...] = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
)
MONTHS += ("november", "december")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_CLOCK = re.compile(r"(([01][0-9])|(2[0-3])):[0-5][0-9]|24:00")


class TimeIntervalError(ValueError):
    """A time interval Alertmanager's configuration would refuse; the message names the field."""


class Span(BaseModel):
    """An inclusive range of integers (weekday 0 = Sunday, day of month, month 1 = January, year)."""

    model_config = ConfigDict(frozen=True)

    begin: int
    end: int


class MinuteSpan(BaseModel):
    """Minutes of the day from `start` (included) to `end` (excluded), 0 to 1440."""

    model_config = ConfigDict(frozen=True)

    start: int
    end: int


class TimeInterval(BaseModel):
    """One entry of a named time interval; None fields do not constrain."""

    model_config = ConfigDict(frozen=True)

    times: tuple[MinuteSpan, ...] | None = None
    weekdays: tuple[Span, ...] | None = None
    days_of_month: tuple[Span, ...] | None = None
    months: tuple[Span, ...] | None = None
    years: tuple[Span, ...] | None = None
    location: str = "UTC"


def parse_time_interval(raw: Mapping[str, Any]) -> TimeInterval:
    """A time interval from its configuration form; TimeIntervalError naming what is wrong."""
    location = str(raw.get("location") or "UTC")  # Go reads an empty location as UTC
    try:
        ZoneInfo(location)
    except (ZoneInfoNotFoundError, ValueError):
        raise TimeIntervalError(f"unknown time zone {location!r}") from None
    return TimeInterval(
        times=_each(raw, "times", _minutes),
        weekdays=_each(raw, "weekdays", _weekdays),
        days_of_month=_each(raw, "days_of_month", _days),
        months=_each(raw, "months", _months),
        years=_each(raw, "years", _years),
        location=location,
    )


def _each(raw: Mapping[str, Any], field: str, parse: Any) -> tuple[Any, ...] | None:
    items = raw.get(field)
    if items is None:
        return None
    if not isinstance(items, Sequence) or isinstance(items, str):
        raise TimeIntervalError(f"{field} is a list")
    return tuple(parse(item) for item in items)


def _minutes(item: Mapping[str, Any]) -> MinuteSpan:
    start, end = item.get("start_time"), item.get("end_time")
    if not start or not end:
        raise TimeIntervalError("times: both start and end times must be provided")
    span = MinuteSpan(start=_clock(str(start)), end=_clock(str(end)))
    if span.start >= span.end:
        raise TimeIntervalError("times: start time cannot be equal or greater than end time")
    return span


def _clock(text: str) -> int:
    if _CLOCK.fullmatch(text) is None:
        raise TimeIntervalError(f"times: couldn't parse timestamp {text}, invalid format")
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _span(text: Any, member: Any) -> Span:
    parts = str(text).lower().split(":")
    if len(parts) > 2:
        raise TimeIntervalError(f"couldn't parse range {text}, invalid format")
    return Span(begin=member(parts[0]), end=member(parts[-1]))


def _integer(text: str) -> int:
    # Go's strconv.Atoi: an optional sign and digits, nothing else (Python's int() also takes spaces and `_`).
    if _INTEGER.fullmatch(text) is None:
        raise TimeIntervalError(f"{text!r} is not a number")
    return int(text)


def _weekdays(text: Any) -> Span:
    def member(name: str) -> int:
        if name not in WEEKDAYS:
            raise TimeIntervalError(f"{name} is not a valid weekday")
        return WEEKDAYS.index(name)

    span = _span(text, member)
    if span.begin > span.end:
        raise TimeIntervalError("weekdays: start day cannot be before end day")
    return span


def _days(text: Any) -> Span:
    span = _span(text, _integer)
    for day in (span.begin, span.end):
        if day == 0 or not -31 <= day <= 31:
            raise TimeIntervalError(f"{day} is not a valid day of the month: out of range")
    if span.begin < 0 < span.end:
        raise TimeIntervalError("end day must be negative if start day is negative")
    # Negative days count from the month's end; a 28-day month is the case where a bad order always shows.
    begin, end = (day + 28 if day < 0 else day for day in (span.begin, span.end))
    if begin > end:
        raise TimeIntervalError(f"end day {span.end} is always before start day {span.begin}")
    return span


def _months(text: Any) -> Span:
    def member(name: str) -> int:
        # Alertmanager 0.25 takes any integer here: a month outside 1-12 just never matches.
        return MONTHS.index(name) + 1 if name in MONTHS else _integer(name)

    span = _span(text, member)
    if span.begin > span.end:
        raise TimeIntervalError(f"end month {span.end} is before start month {span.begin}")
    return span


def _years(text: Any) -> Span:
    span = _span(text, _integer)
    if span.begin > span.end:
        raise TimeIntervalError(f"end year {span.end} is before start year {span.begin}")
    return span
