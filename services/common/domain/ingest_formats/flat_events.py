"""The flat event that a Prometheus sample, an OTLP point or an OTLP log record becomes, and why a value is skipped.

A metric event is `{"metric": name, "value": v, "timestamp": t, <label or attribute>: ...}`: every label or
attribute is a top-level field, so `metric_name` and `group_by` work on it as on any ingested event. Field names
are dotted payload paths in rules, so a dot (or whitespace) in a label or attribute name becomes `_`
(`service.name` -> `service_name`, as Prometheus' own OTLP receiver names it). A label named like one of the
event's own fields keeps its value under a prefixed name (`label_value`, `attr_timestamp`) instead of overwriting it.
"""

from __future__ import annotations

import math
import re
import struct
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import orjson

from services.common.domain.events.model import EARLIEST_EVENT_TIME, LATEST_EVENT_TIME, format_time

STALE_NAN_BITS = 0x7FF0000000000002  # Prometheus' staleness marker: a NaN with this exact bit pattern
METRIC_FIELDS = frozenset({"metric", "value", "timestamp", "event_type"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UNSAFE = re.compile(r"[.\s]")

# Why a value did not become an event; each is counted, none refuses a batch.
SkipReason = Literal[
    "nan",  # a NaN value (not the staleness marker)
    "stale",  # Prometheus' staleness marker
    "inf",  # +Inf or -Inf
    "no_recorded_value",  # an OTLP point flagged NO_RECORDED_VALUE (OTLP's staleness)
    "timestamp",  # a time outside the years 1000-8999
    "no_metric_name",  # a remote_write series without `__name__`
    "native_histogram",  # remote_write native histogram samples (not mapped)
    "reserved_event_type",  # an OTLP log record whose event type starts with `cep.`
]


@dataclass
class FlatBatch:
    """The events of one request in body order, and the values skipped by reason."""

    events: list[dict[str, Any]] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def describe_skips(self) -> str:
        """`3 skipped: 2 nan, 1 stale` (empty when nothing was skipped)."""
        if not self.skipped:
            return ""
        parts = ", ".join(f"{count} {reason}" for reason, count in sorted(self.skipped.items()))
        return f"{self.skipped_total} skipped: {parts}"


class EventTooLarge(ValueError):
    """One event is larger than a message of the bus may be."""


def skip_reason(value: float) -> SkipReason | None:
    """Why a sample value cannot be an event (staleness marker, NaN, infinity), or None when it can."""
    if math.isnan(value):
        return "stale" if struct.unpack("<Q", struct.pack("<d", value))[0] == STALE_NAN_BITS else "nan"
    if math.isinf(value):
        return "inf"
    return None


def field_name(key: str, own_fields: frozenset[str], prefix: str) -> str:
    """The payload field of a label or attribute name: dots and whitespace as `_`, own field names prefixed."""
    name = _UNSAFE.sub("_", key) or "_"
    return f"{prefix}{name}" if name in own_fields else name


def fields_of(pairs: Iterable[tuple[str, Any]], own_fields: frozenset[str], prefix: str) -> dict[str, Any]:
    """Labels or attributes as payload fields; a later pair with the same field name wins."""
    return {field_name(key, own_fields, prefix): value for key, value in pairs}


def metric_event(name: str, value: float, at: datetime | None, fields: Mapping[str, Any]) -> dict[str, Any]:
    """A flat metric event; `at` None leaves the time to ingest (the arrival time)."""
    event: dict[str, Any] = {"metric": name, "value": plain_number(value)}
    if at is not None:
        event["timestamp"] = format_time(at)
    event.update(fields)
    return event


def plain_number(value: float) -> float | int:
    """Integral values as ints (a counter of 12345678 stays exact in JSON), others as floats."""
    return int(value) if float(value).is_integer() and abs(value) < 2**53 else float(value)


def time_from_millis(millis: int) -> datetime:
    """A Prometheus timestamp (ms since the epoch); ValueError outside the years 1000-8999."""
    return _in_range(millis / 1000.0, lambda: _EPOCH + timedelta(milliseconds=millis))


def time_from_nanos(nanos: int) -> datetime | None:
    """An OTLP time (ns since the epoch); None for 0 (unset); ValueError outside the years 1000-8999."""
    if nanos == 0:
        return None
    return _in_range(nanos / 1e9, lambda: _EPOCH + timedelta(microseconds=nanos // 1000))


def json_batches(events: Iterable[Mapping[str, Any]], max_bytes: int) -> list[bytes]:
    """JSON array bodies of the events in order, each at most `max_bytes`; EventTooLarge for an event alone over it."""
    out: list[bytes] = []
    current: list[bytes] = []
    size = 2
    for event in events:
        encoded = orjson.dumps(event)
        if len(encoded) + 2 > max_bytes:
            raise EventTooLarge(f"one event is {len(encoded)} bytes as JSON; a message of the bus holds {max_bytes}")
        if current and size + len(encoded) + 1 > max_bytes:
            out.append(b"[" + b",".join(current) + b"]")
            current, size = [], 2
        current.append(encoded)
        size += len(encoded) + 1
    if current:
        out.append(b"[" + b",".join(current) + b"]")
    return out


def _in_range(seconds: float, build: Any) -> datetime:
    if not (EARLIEST_EVENT_TIME - _EPOCH).total_seconds() <= seconds < (LATEST_EVENT_TIME - _EPOCH).total_seconds():
        raise ValueError("the time is outside the years 1000-8999")
    at: datetime = build()
    return at
