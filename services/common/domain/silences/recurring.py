"""Recurring silences: matchers that mute during repeating windows (Alertmanager lacks them: alertmanager#3339).

A recurring silence repeats either on weekday and time-of-day windows (Alertmanager's time-interval fields, read
in the silence's time zone) or from each firing of a 5-field cron expression for a fixed duration (`0 22 * * 6`
for 8 hours: Saturday nights). It mutes only between its own `starts_at` and optional `ends_at`, and the verdict
names the window that mutes, so a suppressed notification can say which occurrence silenced it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from services.common.domain.labels.label_set import LabelSet
from services.common.domain.labels.matchers import Matcher, matches_all
from services.common.domain.silences.model import SilenceError, matcher_problem
from services.common.domain.time_intervals.contains import contains
from services.common.domain.time_intervals.model import TimeInterval


class CronWindow(BaseModel):
    """A window opening at each firing of `cron` (wall clock of the silence's zone) and lasting `duration`."""

    model_config = ConfigDict(frozen=True)

    cron: str
    duration: timedelta = Field(gt=timedelta(0))

    @model_validator(mode="after")
    def _check_cron(self) -> CronWindow:
        if not croniter.is_valid(self.cron) or len(self.cron.split()) != 5:
            raise ValueError(f"invalid cron expression {self.cron!r} (five fields: minute hour day month weekday)")
        return self


class RecurringSilence(BaseModel):
    """A silence that mutes its matchers during `windows` (time intervals) or a `cron` window, in `timezone`."""

    model_config = ConfigDict(frozen=True)

    id: str
    matchers: tuple[Matcher, ...]
    timezone: str = "UTC"
    windows: tuple[TimeInterval, ...] = ()
    cron: CronWindow | None = None
    starts_at: AwareDatetime
    ends_at: AwareDatetime | None = None
    created_by: str
    comment: str

    @model_validator(mode="after")
    def _check(self) -> RecurringSilence:
        problem = matcher_problem(self.matchers)
        if problem is not None:
            raise SilenceError(problem)
        if (self.cron is None) == (not self.windows):
            raise SilenceError("a recurring silence has either weekday/time windows or a cron window, not both")
        ZoneInfo(self.timezone)  # an unknown zone fails here, at validation
        return self


class Occurrence(BaseModel):
    """The window of a recurring silence that holds an instant: its index in `windows`, or a cron window's span."""

    model_config = ConfigDict(frozen=True)

    silence_id: str
    window: int | None = None
    opened_at: datetime | None = None
    closes_at: datetime | None = None


def occurrence(silence: RecurringSilence, now: datetime) -> Occurrence | None:
    """The window of the silence that is open at `now`, or None when none is (or the silence is out of its span)."""
    if now < silence.starts_at or (silence.ends_at is not None and now > silence.ends_at):
        return None
    if silence.cron is not None:
        return _cron_occurrence(silence, silence.cron, now)
    for index, window in enumerate(silence.windows):
        if contains(window.model_copy(update={"location": silence.timezone}), now):
            return Occurrence(silence_id=silence.id, window=index)
    return None


def mutes(silence: RecurringSilence, labels: LabelSet, now: datetime) -> Occurrence | None:
    """The open window in which the silence mutes `labels` at `now`, or None."""
    if not matches_all(silence.matchers, labels):
        return None
    return occurrence(silence, now)


def _cron_occurrence(silence: RecurringSilence, window: CronWindow, now: datetime) -> Occurrence | None:
    local = now.astimezone(ZoneInfo(silence.timezone))
    # The last firing at or before `now`: croniter looks strictly before its base, so start from the next minute.
    base = local.replace(second=0, microsecond=0) + timedelta(minutes=1)
    opened = croniter(window.cron, base).get_prev(datetime).astimezone(UTC)  # durations are elapsed time
    closes = opened + window.duration
    if now >= closes:
        return None
    return Occurrence(silence_id=silence.id, opened_at=opened, closes_at=closes)
