"""Creating, editing and expiring silences as Alertmanager does, each change returned with its reason.

A new silence whose start is in the past starts now. An edit keeps the silence's id only when it cannot rewrite
history: same matchers in the same order, and for an active silence the same start (to the second) and an end
not in the past, for a pending one a start not in the past. Any other edit expires the old silence (unless it
had expired already) and stores a new one with a new id, as Alertmanager's `Set` does. Expiring ends an active
silence now and moves a pending one's start and end to now. Ids come from the caller: nothing here is random.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from services.common.domain.silences.model import (
    Silence,
    SilenceDraft,
    SilenceError,
    SilenceState,
    matcher_problem,
    state_at,
)


class ChangeReason(StrEnum):
    """Why a posted silence was stored the way it was."""

    CREATED = "created"
    UPDATED = "updated in place"
    MATCHERS_CHANGED = "replaced: the matchers changed"
    ACTIVE_START_CHANGED = "replaced: the start of an active silence changed"
    ACTIVE_END_IN_PAST = "replaced: an active silence's end moved into the past"
    PENDING_START_IN_PAST = "replaced: a pending silence's start moved into the past"
    WAS_EXPIRED = "replaced: the silence had expired"


class Change(BaseModel):
    """The outcome of posting a silence: what is stored, the old silence it expired (if any), and why."""

    model_config = ConfigDict(frozen=True)

    silence: Silence
    expired: Silence | None = None
    reason: ChangeReason


def check_draft(draft: SilenceDraft, now: datetime) -> None:
    """Raise SilenceError when the API refuses the draft (matchers, start not before end, end in the past)."""
    problem = matcher_problem(draft.matchers)
    if problem is not None:
        raise SilenceError(problem)
    if draft.starts_at >= draft.ends_at:
        raise SilenceError("start time must be before end time")
    if draft.ends_at < now:
        raise SilenceError("end time can't be in the past")


def post(draft: SilenceDraft, previous: Silence | None, now: datetime, new_id: str) -> Change:
    """Store a posted silence: a new one, or an edit of `previous` (the silence the draft's `id` names)."""
    check_draft(draft, now)
    if previous is None:
        return Change(silence=_new(draft, now, new_id), reason=ChangeReason.CREATED)
    reason = edit_reason(previous, draft, now)
    if reason is ChangeReason.UPDATED:
        stored = _stored(draft, previous.id, draft.starts_at, now)
        return Change(silence=stored, reason=reason)
    old_state = state_at(previous, now)
    expired = None if old_state is SilenceState.EXPIRED else expire(previous, now)
    return Change(silence=_new(draft, now, new_id), expired=expired, reason=reason)


def edit_reason(previous: Silence, draft: SilenceDraft, now: datetime) -> ChangeReason:
    """Whether an edit can keep the silence's id (UPDATED), or why it makes a new silence."""
    if draft.matchers != previous.matchers:
        return ChangeReason.MATCHERS_CHANGED
    state = state_at(previous, now)
    if state is SilenceState.EXPIRED:
        return ChangeReason.WAS_EXPIRED
    if state is SilenceState.ACTIVE:
        if int(draft.starts_at.timestamp()) != int(previous.starts_at.timestamp()):
            return ChangeReason.ACTIVE_START_CHANGED
        if draft.ends_at < now:
            return ChangeReason.ACTIVE_END_IN_PAST
    elif draft.starts_at < now:
        return ChangeReason.PENDING_START_IN_PAST
    return ChangeReason.UPDATED


def expire(silence: Silence, now: datetime) -> Silence:
    """The silence ended now: an active one ends now, a pending one starts and ends now, an expired one stays."""
    state = state_at(silence, now)
    if state is SilenceState.EXPIRED:
        return silence
    starts_at = now if state is SilenceState.PENDING else silence.starts_at
    return silence.model_copy(update={"starts_at": starts_at, "ends_at": now, "updated_at": now})


def _new(draft: SilenceDraft, now: datetime, new_id: str) -> Silence:
    return _stored(draft, new_id, max(draft.starts_at, now), now)


def _stored(draft: SilenceDraft, silence_id: str, starts_at: datetime, now: datetime) -> Silence:
    return Silence(
        id=silence_id,
        matchers=draft.matchers,
        starts_at=starts_at,
        ends_at=draft.ends_at,
        created_by=draft.created_by,
        comment=draft.comment,
        updated_at=now,
    )
