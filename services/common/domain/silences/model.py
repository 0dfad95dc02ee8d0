"""A silence, its state at an instant, and the rules a silence must satisfy to be stored.

A silence is `pending` before `starts_at`, `expired` after `ends_at`, and `active` in between, both ends
included (Alertmanager's `getState`). Only an active silence mutes. A silence needs at least one matcher, valid
label names, and at least one matcher that does not match the empty string (otherwise it would mute every
alert); `!=` and `!~` matchers never count as matching the empty string there, as in Alertmanager.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from services.common.domain.labels.label_set import is_valid_name
from services.common.domain.labels.matchers import Matcher, MatchType


class SilenceState(StrEnum):
    """Alertmanager's three silence states, as the API's `status.state` spells them."""

    PENDING = "pending"
    ACTIVE = "active"
    EXPIRED = "expired"


class SilenceError(ValueError):
    """A silence that cannot be stored or changed; the message says why (the API answers 400 with it)."""


class Silence(BaseModel):
    """A stored silence: a UUID, its matchers (order kept: it matters to edits), times, author and comment."""

    model_config = ConfigDict(frozen=True)

    id: str
    matchers: tuple[Matcher, ...] = Field(min_length=1)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    created_by: str
    comment: str
    updated_at: AwareDatetime


class SilenceDraft(BaseModel):
    """What a client posts: the fields of a silence it chooses; `id` names the silence it edits, if any."""

    model_config = ConfigDict(frozen=True)

    id: str | None = None
    matchers: tuple[Matcher, ...]
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    created_by: str
    comment: str


def state_at(silence: Silence, now: datetime) -> SilenceState:
    """The silence's state at `now`: pending before its start, expired after its end, else active."""
    if now < silence.starts_at:
        return SilenceState.PENDING
    if now > silence.ends_at:
        return SilenceState.EXPIRED
    return SilenceState.ACTIVE


def matcher_problem(matchers: tuple[Matcher, ...]) -> str | None:
    """Why these matchers cannot make a silence, or None when they can."""
    if not matchers:
        return "at least one matcher required"
    for index, matcher in enumerate(matchers):
        if not is_valid_name(matcher.name):
            return f"invalid label matcher {index}: invalid label name {matcher.name!r}"
    if all(_matches_empty(matcher) for matcher in matchers):
        return "at least one matcher must not match the empty string"
    return None


def _matches_empty(matcher: Matcher) -> bool:
    # Only the positive operators count here: Alertmanager accepts a silence of `a!="x"` alone.
    return matcher.type in (MatchType.EQUAL, MatchType.REGEX) and matcher.matches("")
