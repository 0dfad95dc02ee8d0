"""Ingested events as the domain sees them: identity, tenant, event time and payload; time parsing helpers."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.common.domain.rules.paths import MISSING, lookup

SCHEDULE_EVENT_TYPE = "cep.schedule"  # the internal event a schedule run is

# Epoch numbers above this are milliseconds: 1e11 seconds is the year 5138, 1e11 ms is 1973.
_MILLIS_ABOVE = 1e11
# The event times accepted. Windows, durations and deadlines are added to event times in the evaluator;
# near datetime's own limits (years 1 and 9999) that arithmetic would overflow, so leave centuries of room.
EARLIEST_EVENT_TIME = datetime(1000, 1, 1, tzinfo=UTC)
LATEST_EVENT_TIME = datetime(9000, 1, 1, tzinfo=UTC)  # excluded
_RANGE = "times lie from 1000-01-01T00:00:00Z up to (not including) 9000-01-01T00:00:00Z"


@dataclass(frozen=True, slots=True)
class Event:
    """One ingested item: `time` is its event time (tz-aware UTC), `received_at` its arrival time."""

    event_id: str
    tenant: str
    time: datetime
    payload: Mapping[str, Any]
    event_type: str | None = None
    received_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.time.tzinfo is None:
            raise ValueError("an event time is timezone-aware (UTC)")

    @property
    def kind(self) -> str | None:
        """The event type: the explicit field, else the payload's `event_type` when it is a string."""
        if self.event_type is not None:
            return self.event_type
        value = self.payload.get("event_type")
        return value if isinstance(value, str) else None


def event_time(payload: Mapping[str, Any], arrival: datetime) -> datetime:
    """Return the event time of a payload: its `timestamp`, else `arrival`; always tz-aware UTC.

    `timestamp` is an RFC 3339 string (a naive one is read as UTC) or epoch seconds or milliseconds
    (numbers above 1e11 are milliseconds), from the year 1000 up to (not including) the year 9000.
    Raise ValueError for anything else, so ingest can reject the item.
    """
    raw = payload.get("timestamp")
    if raw is None:
        return as_utc(arrival)
    if isinstance(raw, bool):
        raise ValueError("timestamp must be an RFC 3339 string or epoch seconds/milliseconds, not a boolean")
    if isinstance(raw, int | float):
        at = _from_epoch(raw)
    elif isinstance(raw, str):
        at = parse_time(raw)
    else:
        raise ValueError(f"timestamp must be an RFC 3339 string or an epoch number, got {type(raw).__name__}")
    if not EARLIEST_EVENT_TIME <= at < LATEST_EVENT_TIME:
        raise ValueError(f"timestamp {_short(raw)} is out of range: {_RANGE}")
    return at


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 time (`2024-05-01T12:00:00Z`) into a tz-aware UTC datetime; raise ValueError."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"invalid timestamp {text!r}: expected RFC 3339 like '2024-05-01T12:00:00Z'") from None
    try:
        return as_utc(parsed)
    except OverflowError:  # '9999-12-31T23:59:59-12:00' is past the year 9999 in UTC
        raise ValueError(f"timestamp {text!r} is out of range") from None


def format_time(value: datetime) -> str:
    """Format a datetime as RFC 3339 UTC with a 'Z' suffix (microseconds kept when present)."""
    return as_utc(value).isoformat().replace("+00:00", "Z")


def as_utc(value: datetime) -> datetime:
    """Return the same instant in UTC; a naive datetime is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def in_time_range(value: datetime) -> datetime:
    """Return the instant in UTC (a naive one is UTC already) when it lies in the event time range.

    Raise ValueError when it does not, also when UTC cannot hold it at all (`9999-12-31T23:59:59-12:00`).
    """
    try:
        at = as_utc(value)
    except OverflowError:
        raise ValueError(f"{value.isoformat()} is out of range: {_RANGE}") from None
    if not EARLIEST_EVENT_TIME <= at < LATEST_EVENT_TIME:
        raise ValueError(f"{format_time(at)} is out of range: {_RANGE}")
    return at


def metric_value(payload: Mapping[str, Any], metric_name: str) -> Any:
    """Return the value of a metric in a payload, or MISSING.

    The metric name is a dotted path into the payload; an event shaped `{"metric": name, "value": v}`
    also carries that metric.
    """
    value = lookup(payload, metric_name)
    if value is MISSING and payload.get("metric") == metric_name and "value" in payload:
        return payload["value"]
    return value


def _from_epoch(number: float) -> datetime:
    if isinstance(number, float) and not math.isfinite(number):
        raise ValueError("timestamp must be a finite number")
    try:
        seconds = number / 1000 if abs(number) > _MILLIS_ABOVE else number
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):  # an integer too large for a float, a year past 9999
        raise ValueError(f"timestamp {_short(number)} is out of range") from None


def _short(raw: object) -> str:
    """The offending value for an error message, cut short (a huge integer has hundreds of digits)."""
    text = repr(raw)
    return text if len(text) <= 40 else f"{text[:37]}..."
