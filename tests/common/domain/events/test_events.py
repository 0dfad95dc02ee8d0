"""Event time parsing, metric lookup and the Event type."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from services.common.domain.events.model import Event, event_time, format_time, in_time_range, metric_value, parse_time
from services.common.domain.rules.paths import MISSING

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


# Each overflows somewhere: the UTC conversion past year 9999 or before year 1, the float conversion of a huge
# integer, or the evaluator's window and deadline arithmetic on an instant at datetime's own limits.
OUT_OF_RANGE = [
    "9999-12-31T23:59:59-12:00",
    "0001-01-01T00:00:00+05:00",
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00Z",
    "0999-12-31T23:59:59Z",
    "9000-01-01T00:00:00Z",
    1e20,
    -1e20,
    pytest.param(10**400, id="10**400"),
    pytest.param(-(10**400), id="-10**400"),
]


@pytest.mark.parametrize("timestamp", OUT_OF_RANGE)
def test_event_time_refuses_instants_out_of_range(timestamp: Any) -> None:
    with pytest.raises(ValueError, match="timestamp"):
        event_time({"timestamp": timestamp}, ARRIVAL)


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        ("1000-01-01T00:00:00Z", datetime(1000, 1, 1, tzinfo=UTC)),
        ("8999-12-31T23:59:59.999999Z", datetime(8999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
        (-1e9, datetime(1938, 4, 24, 22, 13, 20, tzinfo=UTC)),
    ],
)
def test_event_time_accepts_the_edges_of_the_range(timestamp: Any, expected: datetime) -> None:
    assert event_time({"timestamp": timestamp}, ARRIVAL) == expected


@pytest.mark.parametrize("text", ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+05:00"])
def test_parse_time_turns_an_overflow_into_a_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="out of range"):
        parse_time(text)


def test_in_time_range_converts_to_utc_or_refuses() -> None:
    assert in_time_range(datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))) == ARRIVAL
    assert in_time_range(datetime(2024, 5, 1, 12, 0)) == ARRIVAL  # naive: UTC
    for value in [datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-12))), datetime(999, 1, 1)]:
        with pytest.raises(ValueError, match="out of range"):
            in_time_range(value)


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
