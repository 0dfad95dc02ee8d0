"""Alertmanager's time intervals: parsing and its refusals, and whether an instant is inside, in a location."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.common.domain.time_intervals.contains import contains, contains_any
from services.common.domain.time_intervals.model import Span, TimeIntervalError, parse_time_interval


def test_parse_reads_names_numbers_and_ranges() -> None:
    interval = parse_time_interval(
        {
            "times": [{"start_time": "09:00", "end_time": "24:00"}],
            "weekdays": ["Monday:friday", "sunday"],
            "days_of_month": ["1:7", "-1"],
            "months": ["january:march", "12"],
            "years": ["2024:2025"],
            "location": "Europe/Berlin",
        }
    )
    assert interval.times is not None and (interval.times[0].start, interval.times[0].end) == (540, 1440)
    assert interval.weekdays == (Span(begin=1, end=5), Span(begin=0, end=0))
    assert interval.days_of_month == (Span(begin=1, end=7), Span(begin=-1, end=-1))
    assert interval.months == (Span(begin=1, end=3), Span(begin=12, end=12))
    assert interval.years == (Span(begin=2024, end=2025),)
    assert interval.location == "Europe/Berlin"


@pytest.mark.parametrize(
    "raw",
    [
        {"times": [{"start_time": "10:00", "end_time": "09:00"}]},
        {"times": [{"start_time": "10:00", "end_time": "10:00"}]},
        {"times": [{"start_time": "24:01", "end_time": "24:30"}]},
        {"times": [{"start_time": "9:00", "end_time": "10:00"}]},  # two digits for the hour
        {"times": [{"start_time": "09:00"}]},
        {"weekdays": ["friday:monday"]},
        {"weekdays": ["funday"]},
        {"days_of_month": ["0"]},
        {"days_of_month": ["32"]},
        {"days_of_month": ["-3:5"]},
        {"days_of_month": ["10:-25"]},  # 10 to the 4th-from-last day is empty even in February (28 days)
        {"months": ["march:january"]},
        {"months": ["dec"]},  # month names are spelled out
        {"years": ["2025:2024"]},
        {"weekdays": ["monday:tuesday:friday"]},
        {"location": "Mars/Olympus"},
    ],
)
def test_refusals(raw: dict[str, Any]) -> None:
    with pytest.raises(TimeIntervalError):
        parse_time_interval(raw)


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


CASES: list[tuple[dict[str, Any], datetime, bool]] = [
    ({"times": [{"start_time": "09:00", "end_time": "17:00"}]}, at(2024, 5, 1, 9, 0), True),
    ({"times": [{"start_time": "09:00", "end_time": "17:00"}]}, at(2024, 5, 1, 17, 0), False),  # end excluded
    ({"times": [{"start_time": "09:00", "end_time": "17:00"}], "location": "Asia/Tokyo"}, at(2024, 5, 1, 0, 0), True),
    ({"weekdays": ["sunday"]}, at(2024, 5, 5, 12, 0), True),  # 2024-05-05 is a Sunday
    ({"weekdays": ["monday:friday"]}, at(2024, 5, 5, 12, 0), False),
    ({"days_of_month": ["-1"]}, at(2024, 2, 29, 12, 0), True),  # the last day of a leap February
    ({"days_of_month": ["-1"]}, at(2024, 2, 28, 12, 0), False),
    ({"days_of_month": ["-7:-1"]}, at(2023, 2, 22, 0, 0), True),
    ({"days_of_month": ["25:31"]}, at(2024, 2, 29, 0, 0), True),  # runs past February's end: clamped
    ({"days_of_month": ["30:31"]}, at(2024, 2, 29, 0, 0), False),  # starts after February's end: never
    ({"months": ["may"], "years": ["2024"]}, at(2024, 5, 31, 23, 59), True),
    ({"months": ["may"], "years": ["2024"]}, at(2025, 5, 1, 0, 0), False),
    ({"months": ["may"], "location": "America/New_York"}, at(2024, 6, 1, 3, 0), True),  # still May 31 there
    ({}, at(2024, 5, 1, 0, 0), True),  # nothing constrained
    ({"weekdays": []}, at(2024, 5, 1, 0, 0), False),  # an empty list matches nothing
]


@pytest.mark.parametrize(("raw", "instant", "inside"), CASES)
def test_contains(raw: dict[str, Any], instant: datetime, inside: bool) -> None:
    assert contains(parse_time_interval(raw), instant) is inside


def test_contains_any() -> None:
    weekend = [parse_time_interval({"weekdays": ["saturday"]}), parse_time_interval({"weekdays": ["sunday"]})]
    assert contains_any(weekend, at(2024, 5, 5, 0, 0))
    assert not contains_any(weekend, at(2024, 5, 6, 0, 0))
    assert not contains_any([], at(2024, 5, 6, 0, 0))
