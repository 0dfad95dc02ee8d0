"""Next fire times, due runs and misfires of cron schedules: literal UTC times, DST changes, month ends, leap days."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from services.common.domain.rules.triggers import ScheduleTrigger
from services.common.domain.schedules.cron import (
    MisfirePolicy,
    Schedule,
    delay_ms,
    fire_times,
    next_fire,
    percentile,
    plan_due,
    start_cursor,
)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


NEXT_FIRES = [
    # (cron, zone, after (UTC), the next fire times (UTC))
    ("*/5 * * * *", "UTC", "2026-11-26 10:02:30", ["10:05", "10:10", "10:15"]),
    ("*/5 * * * *", "UTC", "2026-11-26 10:05:00", ["10:10", "10:15", "10:20"]),  # strictly after
    ("0 9 * * 1-5", "Asia/Seoul", "2026-11-27 01:00:00", ["2026-11-30 00:00"]),  # Fri 10:00 KST -> Mon 09:00
    # Europe/Berlin springs forward 2026-03-29 02:00 CET -> 03:00 CEST: 02:30 does not exist that day.
    (
        "30 2 * * *",
        "Europe/Berlin",
        "2026-03-28 00:00:00",
        ["2026-03-28 01:30", "2026-03-29 01:00", "2026-03-30 00:30"],
    ),
    ("*/15 * * * *", "Europe/Berlin", "2026-03-29 00:30:00", ["00:45", "01:00", "01:15"]),  # no gap in real time
    # ... and falls back 2026-10-25 03:00 CEST -> 02:00 CET: 02:30 happens twice.
    (
        "30 2 * * *",
        "Europe/Berlin",
        "2026-10-24 00:00:00",
        ["2026-10-24 00:30", "2026-10-25 00:30", "2026-10-26 01:30"],
    ),
    ("*/30 * * * *", "Europe/Berlin", "2026-10-24 23:50:00", ["2026-10-25 00:00", "00:30", "01:00", "01:30", "02:00"]),
    ("0 * * * *", "Europe/Berlin", "2026-10-24 23:30:00", ["2026-10-25 00:00", "01:00", "02:00"]),  # hourly: both 02:00
    # America/New_York: 2026-03-08 02:00 EST -> 03:00 EDT; 2026-11-01 02:00 EDT -> 01:00 EST.
    ("30 2 * * *", "America/New_York", "2026-03-07 12:00:00", ["2026-03-08 07:00", "2026-03-09 06:30"]),
    ("30 1 * * *", "America/New_York", "2026-10-31 12:00:00", ["2026-11-01 05:30", "2026-11-02 06:30"]),
    # Month ends and leap days.
    ("0 0 31 * *", "UTC", "2026-01-31 00:00:00", ["2026-03-31 00:00", "2026-05-31 00:00", "2026-07-31 00:00"]),
    ("0 0 L * *", "UTC", "2026-01-31 00:00:00", ["2026-02-28 00:00", "2026-03-31 00:00"]),
    ("0 12 29 2 *", "UTC", "2026-03-01 00:00:00", ["2028-02-29 12:00", "2032-02-29 12:00"]),
    ("59 23 31 12 *", "Pacific/Auckland", "2026-06-01 00:00:00", ["2026-12-31 10:59"]),  # NZDT +13
]


def _expand(after: str, expected: list[str]) -> list[datetime]:
    """Times written as `HH:MM` take the date of the previous entry (or of `after`)."""
    day = after[:10]
    out: list[datetime] = []
    for text in expected:
        if len(text) == 5:
            text = f"{day} {text}"
        day = text[:10]
        out.append(utc(text))
    return out


@pytest.mark.parametrize(("cron", "zone", "after", "expected"), NEXT_FIRES)
def test_next_fire_times(cron: str, zone: str, after: str, expected: list[str]) -> None:
    schedule = Schedule(cron, zone)
    at = utc(after)
    found = []
    for _ in expected:
        fired = next_fire(schedule, at)
        assert fired is not None
        found.append(fired)
        at = fired
    assert found == _expand(after, expected)


def test_a_day_that_never_comes_never_fires() -> None:
    assert next_fire(Schedule("0 0 30 2 *"), utc("2026-01-01 00:00:00")) is None


DST_DAYS = [
    ("Europe/Berlin", "2026-03-28"),
    ("Europe/Berlin", "2026-10-24"),
    ("America/New_York", "2026-03-07"),
    ("America/New_York", "2026-10-31"),
    ("Australia/Lord_Howe", "2026-04-04"),  # Lord Howe shifts by 30 minutes
    ("Australia/Lord_Howe", "2026-10-03"),
]


@pytest.mark.parametrize(("zone", "day"), DST_DAYS)
def test_an_interval_schedule_follows_elapsed_time_through_a_dst_change(zone: str, day: str) -> None:
    start = utc(f"{day} 00:00:00")
    times = list(fire_times(Schedule("*/10 * * * *", zone), start, start + timedelta(days=3)))
    assert all(b - a == timedelta(minutes=10) for a, b in itertools.pairwise(times)), zone


def test_a_daily_run_fires_once_a_day_through_both_dst_changes() -> None:
    schedule = Schedule("30 2 * * *", "Europe/Berlin")
    times = list(fire_times(schedule, utc("2026-01-01 00:00:00"), utc("2027-01-01 00:00:00")))
    assert len(times) == 365
    assert len({t.astimezone(schedule.zone).date() for t in times}) == 365


def test_seconds_mode_reads_the_minute_field_as_seconds() -> None:
    times = list(
        fire_times(Schedule("*/15 * * * *", seconds=True), utc("2026-11-26 10:00:00"), utc("2026-11-26 10:01:00"))
    )
    assert [t.strftime("%M:%S") for t in times] == ["00:15", "00:30", "00:45", "01:00"]


def test_the_schedule_of_a_rule_trigger() -> None:
    schedule = Schedule.of(ScheduleTrigger(cron="0 9 * * *", timezone="Asia/Seoul"))
    assert next_fire(schedule, utc("2026-11-26 00:00:00")) == utc("2026-11-27 00:00:00")


# -- due runs and misfires ---------------------------------------------------------------------------------
NOW = utc("2026-11-26 12:00:30")
GRACE, HORIZON = timedelta(seconds=60), timedelta(hours=1)

DUE = [
    # (cron, cursor, policy, [(scheduled HH:MM, status)])
    ("* * * * *", "2026-11-26 11:59:00", "catch_up", [("12:00", "fired")]),
    ("* * * * *", "2026-11-26 12:00:00", "catch_up", []),
    # A run up to the grace late still fires with its own time; an older one is a misfire.
    ("* * * * *", "2026-11-26 11:58:45", "catch_up", [("11:59", "caught_up"), ("12:00", "fired")]),
    # Down for 5 minutes: one catch-up run for what was missed, the rest recorded missed.
    (
        "* * * * *",
        "2026-11-26 11:55:00",
        "catch_up",
        [("11:56", "missed"), ("11:57", "missed"), ("11:58", "missed"), ("11:59", "caught_up"), ("12:00", "fired")],
    ),
    ("* * * * *", "2026-11-26 11:57:00", "skip", [("11:58", "missed"), ("11:59", "missed"), ("12:00", "fired")]),
    # Misses older than the horizon are never caught up.
    ("0 * * * *", "2026-11-26 09:30:00", "catch_up", [("10:00", "missed"), ("11:00", "missed"), ("12:00", "fired")]),
    (
        "*/20 * * * *",
        "2026-11-26 11:00:00",
        "catch_up",
        [("11:20", "missed"), ("11:40", "caught_up"), ("12:00", "fired")],
    ),
    ("0 9 * * *", "2026-11-26 08:00:00", "catch_up", [("09:00", "missed")]),
    ("0 9 * * *", "2026-11-26 08:00:00", "skip", [("09:00", "missed")]),
]


@pytest.mark.parametrize(("cron", "cursor", "kind", "expected"), DUE)
def test_due_runs_and_misfires(cron: str, cursor: str, kind: str, expected: list[tuple[str, str]]) -> None:
    policy = MisfirePolicy(kind, GRACE, HORIZON)  # type: ignore[arg-type]
    due = plan_due(Schedule(cron), utc(cursor), NOW, policy)
    assert [(r.scheduled_at.strftime("%H:%M"), r.status) for r in due.runs] == expected
    assert due.cursor == (due.runs[-1].scheduled_at if due.runs else utc(cursor))
    assert not due.truncated


def test_a_cursor_older_than_the_lookback_is_truncated() -> None:
    policy = MisfirePolicy("catch_up", GRACE, HORIZON, lookback=timedelta(hours=2))
    due = plan_due(Schedule("0 * * * *"), utc("2026-11-01 00:00:00"), NOW, policy)
    assert due.truncated
    assert [r.scheduled_at.strftime("%H:%M") for r in due.runs] == ["11:00", "12:00"]


START_CURSOR = [
    # (stored cursor, its rule version, current version, rule changed at, expected)
    (None, None, 1, "2026-11-26 10:00:00", "2026-11-26 10:00:00"),  # a new rule starts at its change
    ("2026-11-26 11:00:00", 3, 3, "2026-11-26 10:00:00", "2026-11-26 11:00:00"),  # continues
    ("2026-11-26 11:00:00", 3, 4, "2026-11-26 11:30:00", "2026-11-26 11:30:00"),  # changed since: restarts
    ("2026-11-26 11:00:00", 3, 4, "2026-11-26 10:30:00", "2026-11-26 11:00:00"),  # never backwards
]


@pytest.mark.parametrize(("cursor", "version", "current", "changed", "expected"), START_CURSOR)
def test_where_a_schedule_continues(
    cursor: str | None, version: int | None, current: int, changed: str, expected: str
) -> None:
    stored = None if cursor is None else utc(cursor)
    assert start_cursor(stored, version, current, utc(changed)) == utc(expected)


def test_delay_and_percentiles() -> None:
    assert delay_ms(utc("2026-11-26 12:00:00"), utc("2026-11-26 12:00:01.250000")) == 1250.0
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 99)) == (50.0, 99.0)
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) is None


def test_runs_late_within_the_grace_all_fire_with_their_own_times() -> None:
    # A leader change that took 30 s on an every-10-seconds schedule: three late runs, none lost, none merged.
    due = plan_due(Schedule("*/10 * * * *", seconds=True), utc("2026-11-26 12:00:00"), NOW, MisfirePolicy())
    assert [(r.scheduled_at.strftime("%M:%S"), r.status) for r in due.runs] == [
        ("00:10", "fired"),
        ("00:20", "fired"),
        ("00:30", "fired"),
    ]
