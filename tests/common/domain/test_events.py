"""Event time parsing, metric lookup and the Event type."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from services.common.domain.events import Event, event_time, format_time, metric_value, parse_time
from services.common.domain.paths import MISSING

ARRIVAL = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

EVENT_TIME_CASES: list[tuple[Any, datetime]] = [
    ("2024-05-01T11:59:00Z", datetime(2024, 5, 1, 11, 59, tzinfo=UTC)),
    ("2024-05-01T13:59:00+02:00", datetime(2024, 5, 1, 11, 59, tzinfo=UTC)),
    ("2024-05-01T11:59:00.250Z", datetime(2024, 5, 1, 11, 59, 0, 250000, tzinfo=UTC)),
    ("2024-05-01T11:59:00", datetime(2024, 5, 1, 11, 59, tzinfo=UTC)),  # naive: read as UTC
    (1714564740, datetime(2024, 5, 1, 11, 59, tzinfo=UTC)),  # epoch seconds
    (1714564740.5, datetime(2024, 5, 1, 11, 59, 0, 500000, tzinfo=UTC)),
    (1714564740123, datetime(2024, 5, 1, 11, 59, 0, 123000, tzinfo=UTC)),  # epoch milliseconds
    (None, ARRIVAL),
]


@pytest.mark.parametrize(("timestamp", "expected"), EVENT_TIME_CASES)
def test_event_time(timestamp: Any, expected: datetime) -> None:
    got = event_time({"timestamp": timestamp}, ARRIVAL)
    assert got == expected
    assert got.tzinfo == UTC


def test_event_time_without_timestamp_is_arrival_in_utc() -> None:
    arrival = datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    got = event_time({"cpu": 1}, arrival)
    assert got == ARRIVAL and got.tzinfo == UTC


@pytest.mark.parametrize(
    "timestamp", ["yesterday", "", "2024-13-01T00:00:00Z", True, float("nan"), 1e30, {"a": 1}, [1]]
)
def test_event_time_refuses_unparseable(timestamp: Any) -> None:
    with pytest.raises(ValueError):
        event_time({"timestamp": timestamp}, ARRIVAL)


def test_parse_and_format_round_trip() -> None:
    value = parse_time("2024-05-01T12:00:00.000123Z")
    assert format_time(value) == "2024-05-01T12:00:00.000123Z"
    assert format_time(datetime(2024, 5, 1, 12, 0, tzinfo=UTC)) == "2024-05-01T12:00:00Z"


METRIC_CASES: list[tuple[dict[str, Any], str, Any]] = [
    ({"cpu_usage": 92}, "cpu_usage", 92),
    ({"host": {"cpu": {"usage": 7}}}, "host.cpu.usage", 7),
    ({"disks": [{"free": 3}]}, "disks.0.free", 3),
    ({"metric": "cpu_usage", "value": 91}, "cpu_usage", 91),
    ({"metric": "cpu_usage", "value": 91, "cpu_usage": 5}, "cpu_usage", 5),  # the path wins
    ({"metric": "memory", "value": 91}, "cpu_usage", MISSING),
    ({"metric": "cpu_usage"}, "cpu_usage", MISSING),
    ({"cpu": 1}, "cpu_usage", MISSING),
    ({"host": {}}, "host.cpu", MISSING),
]


@pytest.mark.parametrize(("payload", "name", "expected"), METRIC_CASES)
def test_metric_value(payload: dict[str, Any], name: str, expected: Any) -> None:
    assert (
        metric_value(payload, name) == expected if expected is not MISSING else metric_value(payload, name) is MISSING
    )


def test_event_kind_prefers_the_field_then_the_payload() -> None:
    assert Event("e", "t", ARRIVAL, {"event_type": "error"}).kind == "error"
    assert Event("e", "t", ARRIVAL, {"event_type": "error"}, "deploy").kind == "deploy"
    assert Event("e", "t", ARRIVAL, {"event_type": 3}).kind is None
    assert Event("e", "t", ARRIVAL, {}).kind is None
