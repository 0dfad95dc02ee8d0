"""Recurring silences: weekday/time windows and cron windows in a time zone, bounded by the silence's span."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.common.domain.labels.matchers import Matcher, MatchType
from services.common.domain.silences.recurring import CronWindow, RecurringSilence, mutes, occurrence
from services.common.domain.time_intervals.model import parse_time_interval

DB = (Matcher(name="team", type=MatchType.EQUAL, value="db"),)
SINCE = datetime(2024, 1, 1, tzinfo=UTC)


def weekly(timezone: str = "Europe/Berlin", **bounds: datetime) -> RecurringSilence:
    window = parse_time_interval(
        {"weekdays": ["saturday", "sunday"], "times": [{"start_time": "02:00", "end_time": "04:00"}]}
    )
    span = {"starts_at": SINCE, **bounds}
    return RecurringSilence(
        id="r1", matchers=DB, timezone=timezone, windows=(window,), created_by="a", comment="c", **span
    )


def nightly(cron: str = "0 22 * * *", hours: int = 8, timezone: str = "America/New_York") -> RecurringSilence:
    window = CronWindow(cron=cron, duration=timedelta(hours=hours))
    return RecurringSilence(
        id="r2", matchers=DB, timezone=timezone, cron=window, created_by="a", comment="c", starts_at=SINCE
    )


@pytest.mark.parametrize(
    ("now", "inside"),
    [
        (datetime(2024, 5, 4, 0, 30, tzinfo=UTC), True),  # Saturday 02:30 in Berlin (UTC+2)
        (datetime(2024, 5, 4, 2, 0, tzinfo=UTC), False),  # Saturday 04:00 in Berlin: the end is excluded
        (datetime(2024, 5, 3, 0, 30, tzinfo=UTC), False),  # Friday
        (datetime(2024, 1, 6, 1, 30, tzinfo=UTC), True),  # winter: Berlin is UTC+1
    ],
)
def test_weekday_windows_in_the_silences_zone(now: datetime, inside: bool) -> None:
    found = occurrence(weekly(), now)
    assert (found is not None) is inside
    if found is not None:
        assert found.window == 0


def test_span_bounds_the_windows() -> None:
    saturday = datetime(2024, 5, 4, 0, 30, tzinfo=UTC)
    assert occurrence(weekly(starts_at=saturday + timedelta(minutes=1)), saturday) is None
    assert occurrence(weekly(ends_at=saturday - timedelta(minutes=1)), saturday) is None


@pytest.mark.parametrize(
    ("now", "opened"),
    [
        (datetime(2024, 5, 2, 2, 0, tzinfo=UTC), datetime(2024, 5, 2, 2, 0, tzinfo=UTC)),  # 22:00 EDT, the firing
        (datetime(2024, 5, 2, 9, 59, tzinfo=UTC), datetime(2024, 5, 2, 2, 0, tzinfo=UTC)),
        (datetime(2024, 5, 2, 10, 0, tzinfo=UTC), None),  # 8 hours later: closed
        (datetime(2024, 5, 2, 1, 59, tzinfo=UTC), None),
    ],
)
def test_cron_windows(now: datetime, opened: datetime | None) -> None:
    found = occurrence(nightly(), now)
    assert (found.opened_at if found else None) == opened
    if found is not None and opened is not None:
        assert found.closes_at == opened + timedelta(hours=8)


def test_cron_duration_is_elapsed_time_across_a_dst_change() -> None:
    # 2024-03-09 22:00 EST is 03:00 UTC; clocks spring forward that night, yet the window still lasts 8 real hours.
    found = occurrence(nightly(), datetime(2024, 3, 10, 10, 59, tzinfo=UTC))
    assert found is not None and found.closes_at == datetime(2024, 3, 10, 11, 0, tzinfo=UTC)


def test_mutes_needs_the_matchers_too() -> None:
    now = datetime(2024, 5, 2, 3, 0, tzinfo=UTC)
    assert mutes(nightly(), {"team": "db"}, now) is not None
    assert mutes(nightly(), {"team": "web"}, now) is None


def test_refusals() -> None:
    with pytest.raises(ValueError, match="cron"):
        CronWindow(cron="61 * * * *", duration=timedelta(hours=1))
    with pytest.raises(ValueError, match="either"):
        RecurringSilence(id="x", matchers=DB, created_by="a", comment="c", starts_at=SINCE)
    with pytest.raises(ValueError, match="at least one matcher"):
        RecurringSilence.model_validate({**nightly().model_dump(), "matchers": ()})
