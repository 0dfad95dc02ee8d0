"""Cron schedules in a time zone: next fire times, what is due at a tick, misfires, and delay figures (pure).

A schedule fires at the UTC instants whose local wall time in its zone matches the 5-field cron expression.
Daylight-saving changes are resolved like Vixie cron, so no run is doubled and none silently lost:
- a wall time skipped by a spring-forward gap fires once, at the first instant after the gap (the transition);
- a wall time repeated by a fall-back fires once, at its first occurrence, unless the hour field starts with
  `*` (`*/15 * * * *`, `0 * * * *`): such interval schedules follow elapsed time and fire on both passes.

Nothing here reads a clock: `now` and `after` are parameters; every datetime is tz-aware.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

from croniter import croniter
from croniter.croniter import CroniterBadDateError

from services.common.domain.rules.triggers import ScheduleTrigger
from services.common.domain.windows.sliding import nearest_rank

Misfire = Literal["catch_up", "skip"]
RunStatus = Literal["fired", "caught_up", "missed"]

# Offsets of one zone around an instant differ by at most this much (DST shifts are 30 min to 2 h), so a wall
# time never maps further than this from where a fixed offset would put it.
_SHIFT_BOUND = timedelta(hours=3)
DEFAULT_GRACE = timedelta(seconds=60)
DEFAULT_HORIZON = timedelta(hours=1)
DEFAULT_LOOKBACK = timedelta(days=7)
LATE_AFTER_MS = 1000.0  # a run that started more than this after its scheduled time counts as late


@dataclass(frozen=True)
class Schedule:
    """A cron expression in a time zone; `seconds` (test-only) reads the minute field as seconds."""

    cron: str
    timezone: str = "UTC"
    seconds: bool = False

    @classmethod
    def of(cls, trigger: ScheduleTrigger, *, seconds: bool = False) -> Schedule:
        return cls(trigger.cron, trigger.timezone, seconds)

    @property
    def zone(self) -> tzinfo:
        return _zone(self.timezone)

    @property
    def expression(self) -> str:
        """The croniter expression: the 5 fields, or in seconds mode `* H DoM Mon DoW <minute field>`."""
        if not self.seconds:
            return self.cron
        minute, rest = self.cron.split(None, 1)
        return f"* {rest} {minute}"

    @property
    def follows_elapsed_time(self) -> bool:
        """Interval schedules (hour field `*` or `*/n`) fire on both passes of a repeated wall time."""
        return self.cron.split()[1].startswith("*")


@lru_cache(maxsize=256)
def _zone(name: str) -> tzinfo:
    return UTC if name == "UTC" else ZoneInfo(name)


def _wall(instant: datetime, zone: tzinfo) -> datetime:
    """The naive local wall time of an instant."""
    return instant.astimezone(zone).replace(tzinfo=None)


def _offset(instant: datetime, zone: tzinfo) -> timedelta:
    offset = instant.astimezone(zone).utcoffset()
    assert offset is not None
    return offset


def _next_wall(schedule: Schedule, wall: datetime) -> datetime | None:
    """The first naive wall time strictly after `wall` matching the expression (None: it never matches)."""
    try:
        found: datetime = croniter(schedule.expression, wall).get_next(datetime)
    except CroniterBadDateError:  # e.g. `0 0 30 2 *`: valid syntax, no such day
        return None
    return found


def instants(schedule: Schedule, wall: datetime) -> list[datetime]:
    """The UTC instants a naive local wall time fires at (one; two on both passes of a fall-back; see above)."""
    zone = schedule.zone
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if first == second:
        return [first]
    if _wall(first, zone) == wall and _wall(second, zone) == wall:  # repeated by a fall-back
        return [first, second] if schedule.follows_elapsed_time else [first]
    return [_transition(min(first, second), max(first, second), zone)]  # skipped by a gap


def _transition(low: datetime, high: datetime, zone: tzinfo) -> datetime:
    """The first instant in (low, high] whose offset is the one after the change (binary search to the second)."""
    after = _offset(high, zone)
    lo, hi = 0, int((high - low).total_seconds())
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _offset(low + timedelta(seconds=mid), zone) == after:
            hi = mid
        else:
            lo = mid
    return low + timedelta(seconds=hi)


def next_fire(schedule: Schedule, after: datetime) -> datetime | None:
    """The first fire time strictly after `after` (UTC), or None when the expression never matches."""
    zone = schedule.zone
    wall = _wall(after, zone)
    candidate = _next_wall(schedule, wall)
    if candidate is None:
        return None
    fast = _fixed_offset_answer(schedule, after, candidate)
    if fast is not None:
        return fast
    return _next_fire_near_change(schedule, after, wall)


def _fixed_offset_answer(schedule: Schedule, after: datetime, candidate: datetime) -> datetime | None:
    """The answer when no offset change lies near `after` or near the candidate (almost always)."""
    zone = schedule.zone
    around_after = {_offset(after + k * _SHIFT_BOUND, zone) for k in (-1, 0, 1)}
    if len(around_after) != 1:
        return None
    fired = candidate.replace(tzinfo=zone).astimezone(UTC)
    around_fire = {_offset(fired + k * _SHIFT_BOUND, zone) for k in (-1, 0, 1)}
    if len(around_fire) != 1 or fired <= after:
        return None
    return fired


def _next_fire_near_change(schedule: Schedule, after: datetime, wall: datetime) -> datetime | None:
    # Walk wall times from a little before `after` and keep the smallest instant after it; past a wall time
    # the shift bound beyond the best answer, no later wall time can map before it.
    best: datetime | None = None
    cursor: datetime | None = wall - _SHIFT_BOUND - timedelta(seconds=1)
    while cursor is not None:
        cursor = _next_wall(schedule, cursor)
        if cursor is None or (best is not None and cursor > _wall(best, schedule.zone) + _SHIFT_BOUND):
            break
        for instant in instants(schedule, cursor):
            if instant > after and (best is None or instant < best):
                best = instant
    return best


def fire_times(schedule: Schedule, after: datetime, until: datetime) -> Iterator[datetime]:
    """Every fire time in (after, until], increasing."""
    at: datetime | None = after
    while at is not None:
        at = next_fire(schedule, at)
        if at is None or at > until:
            return
        yield at


# -- what is due at a tick ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class MisfirePolicy:
    """How a schedule treats runs it could not start on time.

    A run up to `grace` late still fires (late) with its own `scheduled_at`: a leader change or a short outage
    costs delay, not runs. Older ones are misfires: `catch_up` fires the newest of them once if it is within
    `horizon`, `skip` fires none; every other misfire is recorded `missed`. Misfires older than `lookback`
    are not enumerated at all (`Due.truncated`).
    """

    kind: Misfire = "catch_up"
    grace: timedelta = DEFAULT_GRACE
    horizon: timedelta = DEFAULT_HORIZON
    lookback: timedelta = DEFAULT_LOOKBACK


@dataclass(frozen=True)
class PlannedRun:
    """One scheduled time and what becomes of it."""

    scheduled_at: datetime
    status: RunStatus


@dataclass(frozen=True)
class Due:
    """The runs due at a tick, oldest first, and the new cursor (the newest scheduled time dealt with)."""

    runs: list[PlannedRun]
    cursor: datetime
    truncated: bool = False  # the cursor was older than the lookback: earlier misses were not enumerated

    @property
    def fired(self) -> list[PlannedRun]:
        return [run for run in self.runs if run.status != "missed"]


def plan_due(schedule: Schedule, cursor: datetime, now: datetime, policy: MisfirePolicy) -> Due:
    """What to do at `now` for every fire time in (cursor, now]: fire, catch up once, or record as missed."""
    start = max(cursor, now - policy.lookback)
    times = list(fire_times(schedule, start, now))
    if not times:
        return Due([], start, start > cursor)
    misfired = [t for t in times if now - t > policy.grace]
    caught_up: datetime | None = None
    if policy.kind == "catch_up" and misfired and now - misfired[-1] <= policy.horizon:
        caught_up = misfired[-1]
    runs: list[PlannedRun] = []
    for at in times:
        if now - at <= policy.grace:
            runs.append(PlannedRun(at, "fired"))
        else:
            runs.append(PlannedRun(at, "caught_up" if at == caught_up else "missed"))
    return Due(runs, times[-1], start > cursor)


def start_cursor(
    cursor: datetime | None, cursor_version: int | None, rule_version: int, changed_at: datetime
) -> datetime:
    """Where a rule's schedule continues from: its stored cursor, unless the rule changed since (then its change).

    Runs due before a rule's last change belong to the old rule: they are neither fired nor counted missed.
    """
    if cursor is None or cursor_version != rule_version:
        return changed_at if cursor is None else max(cursor, changed_at)
    return cursor


# -- figures -----------------------------------------------------------------------------------------------
def delay_ms(scheduled_at: datetime, started_at: datetime) -> float:
    """How late a run started, in milliseconds (negative if a clock ran ahead)."""
    return round((started_at - scheduled_at).total_seconds() * 1000.0, 3)


def percentile(values: Sequence[float], percent: int) -> float | None:
    """The nearest-rank percentile (as the windows' p95), or None without values."""
    if not values:
        return None
    return sorted(values)[nearest_rank(len(values), percent) - 1]


def is_late(delay: float | None, late_after_ms: float = LATE_AFTER_MS) -> bool:
    return delay is not None and not math.isnan(delay) and delay > late_after_ms
