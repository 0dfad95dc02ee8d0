"""Wire models of the silence routes: the body read into a domain draft (fixed or recurring), and the JSON view.

A fixed silence has `starts_at` (default: now; a start in the past starts now) and `ends_at` or a `duration`.
A recurring one has a `recurrence`: weekday/time `windows` (Alertmanager's time-interval fields) or a `cron` and
a `duration`, read in `timezone`; it mutes inside its windows from `starts_at` until `ends_at` (open-ended when
absent). Every problem is a 422 naming its field (`matchers.0.value`, `ends_at`, `recurrence.windows.1.times`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from services.common.db.tables import SilenceRow
from services.common.domain.labels.matchers import Matcher
from services.common.domain.rules.durations import parse_duration
from services.common.domain.rules.errors import FieldError, from_pydantic
from services.common.domain.silences.model import Silence, SilenceDraft, SilenceState, matcher_problem, state_at
from services.common.domain.silences.recurring import CronWindow, RecurringSilence, occurrence
from services.common.domain.time_intervals.model import TimeInterval, TimeIntervalError, parse_time_interval
from services.gateway.rest.problems import invalid
from services.gateway.row_codec import rfc3339
from services.gateway.schemas.matchers import MatcherIn, matcher_json, read_matchers, stored_matchers


class RecurrenceBody(BaseModel):
    """When a recurring silence mutes: `windows` or `cron` + `duration`, in `timezone`."""

    model_config = ConfigDict(extra="forbid")

    timezone: str = Field(default="UTC", description="an IANA time zone (`Europe/Berlin`)")
    windows: list[dict[str, Any]] | None = Field(
        default=None,
        description="Alertmanager time intervals: `times` [{start_time, end_time}], `weekdays`, `days_of_month`, "
        "`months`, `years`",
    )
    cron: str | None = Field(default=None, description="5 fields; each firing opens a window of `duration`")
    duration: str | None = Field(default=None, description="with `cron`: how long each window lasts (`8h`)")


class SilenceBody(BaseModel):
    """A create or edit body."""

    model_config = ConfigDict(extra="forbid")

    matchers: list[MatcherIn | str] = Field(description='objects, or text in amtool\'s syntax (`team="db"`)')
    starts_at: AwareDatetime | None = Field(default=None, description="default now; a past start starts now")
    ends_at: AwareDatetime | None = Field(default=None, description="fixed silences: the end (or `duration`)")
    duration: str | None = Field(default=None, description="fixed silences: instead of `ends_at` (`2h`)")
    created_by: str | None = Field(default=None, description="default: the token's name")
    comment: str
    recurrence: RecurrenceBody | None = None


class _Fields(BaseModel):
    """The body's scalar fields, checked by pydantic (matchers and recurrence windows are read by hand)."""

    model_config = ConfigDict(extra="forbid")

    matchers: Any
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    duration: str | None = None
    created_by: str | None = Field(default=None, max_length=200)
    comment: str = Field(max_length=10_000)
    recurrence: RecurrenceBody | None = None


@dataclass(frozen=True)
class RecurringDraft:
    """A valid recurring silence before it has an id: its domain model (with a placeholder id) and stored JSON."""

    silence: RecurringSilence
    recurrence: dict[str, Any]


def parse_silence(data: Any, *, author: str, now: datetime) -> SilenceDraft | RecurringDraft:
    """A body into a fixed draft or a recurring one; a 422 naming every bad field otherwise."""
    errors: list[FieldError] = []
    raw = data if isinstance(data, dict) else {}
    if not isinstance(data, dict):
        raise invalid([FieldError((), "the body must be a JSON object")])
    matchers = read_matchers(raw.get("matchers"), ("matchers",), errors)
    try:
        fields = _Fields.model_validate(raw)
    except ValidationError as exc:
        errors += [e for e in from_pydantic(exc) if e.loc[:1] != ("matchers",)]
        raise invalid(errors) from None
    if not errors and (problem := matcher_problem(matchers)) is not None:
        errors.append(FieldError(("matchers",), problem))
    # A past start is kept here: `post` moves a new silence's start to now, and an edit must see the start it sent.
    starts_at = fields.starts_at or now
    created_by = fields.created_by or author
    draft: SilenceDraft | RecurringDraft | None
    if fields.recurrence is not None:
        draft = _recurring(fields, matchers, starts_at, created_by, errors)
    else:
        draft = _fixed(fields, matchers, starts_at, created_by, now, errors)
    if errors or draft is None:
        raise invalid(errors)
    return draft


def _fixed(
    fields: _Fields, matchers: tuple[Matcher, ...], starts_at: datetime, author: str, now: datetime, errors: list[Any]
) -> SilenceDraft | None:
    ends_at = fields.ends_at
    if fields.duration is not None:
        if ends_at is not None:
            errors.append(FieldError(("duration",), "give `ends_at` or `duration`, not both"))
        seconds = _duration(fields.duration, ("duration",), errors)
        ends_at = starts_at + timedelta(seconds=seconds) if seconds else None
    if ends_at is None:
        if fields.duration is None:
            errors.append(FieldError(("ends_at",), "required (or `duration`, or a `recurrence`)"))
        return None
    if ends_at < now:
        errors.append(FieldError(("ends_at",), "must not be in the past"))
    elif ends_at <= starts_at:
        errors.append(FieldError(("ends_at",), "must be after starts_at"))
    if errors:
        return None
    return SilenceDraft(
        matchers=matchers, starts_at=starts_at, ends_at=ends_at, created_by=author, comment=fields.comment
    )


def _recurring(
    fields: _Fields, matchers: tuple[Matcher, ...], starts_at: datetime, author: str, errors: list[FieldError]
) -> RecurringDraft | None:
    body = fields.recurrence
    assert body is not None
    loc = ("recurrence",)
    if fields.duration is not None:
        errors.append(FieldError(("duration",), "a recurring silence's windows last `recurrence.duration`"))
    try:
        ZoneInfo(body.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        errors.append(FieldError((*loc, "timezone"), f"unknown time zone {body.timezone!r}"))
    windows = _windows(body, errors)
    cron = _cron(body, errors)
    if (body.cron is None) == (body.windows is None):
        errors.append(FieldError(loc, "give either `windows` or `cron` (with `duration`)"))
    if fields.ends_at is not None and fields.ends_at <= starts_at:
        errors.append(FieldError(("ends_at",), "must be after starts_at"))
    if errors:
        return None
    silence = RecurringSilence(
        id="draft",
        matchers=matchers,
        timezone=body.timezone,
        windows=windows,
        cron=cron,
        starts_at=starts_at,
        ends_at=fields.ends_at,
        created_by=author,
        comment=fields.comment,
    )
    return RecurringDraft(silence, body.model_dump(exclude_none=True))


def _windows(body: RecurrenceBody, errors: list[FieldError]) -> tuple[TimeInterval, ...]:
    out: list[TimeInterval] = []
    for index, window in enumerate(body.windows or ()):
        try:
            out.append(parse_time_interval({**window, "location": body.timezone}))
        except (TimeIntervalError, ValueError, TypeError, AttributeError) as exc:
            errors.append(FieldError(("recurrence", "windows", index), str(exc)))
    if body.windows is not None and not body.windows:
        errors.append(FieldError(("recurrence", "windows"), "at least one window"))
    return tuple(out)


def _cron(body: RecurrenceBody, errors: list[FieldError]) -> CronWindow | None:
    if body.cron is None:
        if body.duration is not None:
            errors.append(FieldError(("recurrence", "duration"), "only with `cron`"))
        return None
    seconds = _duration(body.duration, ("recurrence", "duration"), errors)
    if not seconds:
        return None
    try:
        return CronWindow(cron=body.cron, duration=timedelta(seconds=seconds))
    except ValidationError as exc:
        errors.append(FieldError(("recurrence", "cron"), str(exc.errors()[0]["msg"]).removeprefix("Value error, ")))
        return None


def _duration(text: str | None, loc: tuple[str, ...], errors: list[FieldError]) -> float:
    if text is None:
        errors.append(FieldError(loc, "required: a duration like `8h`"))
        return 0.0
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        errors.append(FieldError(loc, str(exc)))
        return 0.0
    if seconds <= 0:
        errors.append(FieldError(loc, "must be positive"))
    return seconds


def fixed_silence(row: SilenceRow) -> Silence:
    """The domain silence of a fixed silence's row."""
    assert row.ends_at is not None
    return Silence(
        id=row.silence_id,
        matchers=stored_matchers(row.matchers),
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        created_by=row.created_by,
        comment=row.comment,
        updated_at=row.updated_at,
    )


def recurring_silence(row: SilenceRow) -> RecurringSilence:
    """The domain model of a recurring silence's row."""
    spec = row.recurrence or {}
    duration = spec.get("duration")
    cron = CronWindow(cron=spec["cron"], duration=timedelta(seconds=parse_duration(duration))) if duration else None
    windows = tuple(
        parse_time_interval({**w, "location": spec.get("timezone", "UTC")}) for w in spec.get("windows", ())
    )
    return RecurringSilence(
        id=row.silence_id,
        matchers=stored_matchers(row.matchers),
        timezone=spec.get("timezone", "UTC"),
        windows=windows,
        cron=cron,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        created_by=row.created_by,
        comment=row.comment,
    )


def row_state(row: SilenceRow, now: datetime) -> SilenceState:
    """A silence's state: pending before its start, expired after its end (never, without one), else active."""
    if now < row.starts_at:
        return SilenceState.PENDING
    if row.ends_at is not None and now > row.ends_at:
        return SilenceState.EXPIRED
    return SilenceState.ACTIVE


def mutes_now(row: SilenceRow, now: datetime) -> bool:
    """Whether the silence mutes its matchers at `now` (a recurring one only inside one of its windows)."""
    if row.recurrence is None:
        return state_at(fixed_silence(row), now) is SilenceState.ACTIVE
    return occurrence(recurring_silence(row), now) is not None


def silence_json(row: SilenceRow, now: datetime) -> dict[str, Any]:
    """The API view of a silence."""
    return {
        "silence_id": row.silence_id,
        "tenant": row.tenant,
        "kind": "fixed" if row.recurrence is None else "recurring",
        "matchers": row.matchers,
        "starts_at": rfc3339(row.starts_at),
        "ends_at": rfc3339(row.ends_at),
        "recurrence": row.recurrence,
        "created_by": row.created_by,
        "comment": row.comment,
        "state": row_state(row, now).value,
        "mutes_now": mutes_now(row, now),
        "version": row.version,
        "created_at": rfc3339(row.created_at),
        "updated_at": rfc3339(row.updated_at),
    }


def matchers_json(matchers: tuple[Matcher, ...]) -> list[dict[str, str]]:
    return [matcher_json(m) for m in matchers]


class StoredSilence(BaseModel):
    """A silence as returned."""

    silence_id: str
    tenant: str
    kind: str = Field(description="`fixed` or `recurring`")
    matchers: list[MatcherIn]
    starts_at: str
    ends_at: str | None
    recurrence: dict[str, Any] | None
    created_by: str
    comment: str
    state: str = Field(description="`pending`, `active` or `expired`")
    mutes_now: bool = Field(description="active, and for a recurring silence inside one of its windows")
    version: int
    created_at: str
    updated_at: str


class SilenceList(BaseModel):
    items: list[StoredSilence]
    total: int
    next_cursor: str | None
