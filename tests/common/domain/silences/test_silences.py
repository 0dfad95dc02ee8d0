"""Silences: state at an instant, the API's refusals, creation, Alertmanager's edit rules, expiry, muting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.common.domain.labels.matchers import Matcher, MatchType
from services.common.domain.silences.lifecycle import ChangeReason, expire, post
from services.common.domain.silences.model import (
    Silence,
    SilenceDraft,
    SilenceError,
    SilenceState,
    matcher_problem,
    state_at,
)
from services.common.domain.silences.muting import preview, silenced

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)


def m(name: str, op: str, value: str) -> Matcher:
    return Matcher(name=name, type=MatchType(op), value=value)


DB = (m("team", "=", "db"),)


def draft(
    start: datetime, end: datetime, matchers: tuple[Matcher, ...] = DB, silence_id: str | None = None
) -> SilenceDraft:
    return SilenceDraft(
        id=silence_id, matchers=matchers, starts_at=start, ends_at=end, created_by="ann", comment="maintenance"
    )


def stored(start: datetime, end: datetime, matchers: tuple[Matcher, ...] = DB, silence_id: str = "s1") -> Silence:
    return Silence(
        id=silence_id, matchers=matchers, starts_at=start, ends_at=end, created_by="ann", comment="c", updated_at=T0
    )


@pytest.mark.parametrize(
    ("now", "state"),
    [
        (T0 - timedelta(seconds=1), SilenceState.PENDING),
        (T0, SilenceState.ACTIVE),  # both ends belong to the silence
        (T0 + H, SilenceState.ACTIVE),
        (T0 + H + timedelta(microseconds=1), SilenceState.EXPIRED),
    ],
)
def test_state_at(now: datetime, state: SilenceState) -> None:
    assert state_at(stored(T0, T0 + H), now) is state


@pytest.mark.parametrize(
    ("matchers", "problem"),
    [
        ((), "at least one matcher required"),
        ((m("a", "=", ""),), "must not match the empty string"),
        ((m("a", "=~", ".*"), m("b", "=~", "x*")), "must not match the empty string"),
        ((m("a:b", "=", "x"),), "invalid label name"),
        ((m("a", "!=", "x"),), None),  # Alertmanager does not count negative matchers as matching ""
        ((m("a", "=", ""), m("b", "=", "x")), None),
    ],
)
def test_matcher_rules(matchers: tuple[Matcher, ...], problem: str | None) -> None:
    found = matcher_problem(matchers)
    assert found == problem if problem is None else problem in (found or "")


def test_a_start_in_the_past_starts_now() -> None:
    change = post(draft(T0 - H, T0 + H), None, T0, "new")
    assert change.reason is ChangeReason.CREATED
    assert (change.silence.id, change.silence.starts_at, change.silence.updated_at) == ("new", T0, T0)
    future = post(draft(T0 + H, T0 + 2 * H), None, T0, "new").silence
    assert future.starts_at == T0 + H


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (T0 + H, T0 + H, "start time must be before end time"),
        (T0 + H, T0, "start time must be before end time"),
        (T0 - 2 * H, T0 - H, "end time can't be in the past"),
    ],
)
def test_refused_drafts(start: datetime, end: datetime, message: str) -> None:
    with pytest.raises(SilenceError, match=message):
        post(draft(start, end), None, T0, "new")


ACTIVE = stored(T0 - H, T0 + H)  # active at T0
PENDING = stored(T0 + H, T0 + 2 * H)
OVER = stored(T0 - 2 * H, T0 - H)

EDITS = [
    (ACTIVE, draft(T0 - H, T0 + 3 * H), ChangeReason.UPDATED),
    (ACTIVE, draft(T0 - H + timedelta(milliseconds=500), T0 + 3 * H), ChangeReason.UPDATED),  # same second
    (ACTIVE, draft(T0 - H, T0 + 3 * H, (m("team", "=", "web"),)), ChangeReason.MATCHERS_CHANGED),
    (ACTIVE, draft(T0 + H, T0 + 3 * H), ChangeReason.ACTIVE_START_CHANGED),
    (PENDING, draft(T0 + 2 * H, T0 + 3 * H), ChangeReason.UPDATED),
    (PENDING, draft(T0 - H, T0 + 3 * H), ChangeReason.PENDING_START_IN_PAST),
    (OVER, draft(T0, T0 + H), ChangeReason.WAS_EXPIRED),
]


@pytest.mark.parametrize(("previous", "edit", "reason"), EDITS)
def test_edits_follow_alertmanager(previous: Silence, edit: SilenceDraft, reason: ChangeReason) -> None:
    change = post(edit, previous, T0, "new")
    assert change.reason is reason
    if reason is ChangeReason.UPDATED:
        assert change.silence.id == previous.id and change.expired is None
        assert change.silence.starts_at == edit.starts_at
    else:
        assert change.silence.id == "new"
        assert change.silence.starts_at == max(edit.starts_at, T0)
        if previous is OVER:
            assert change.expired is None  # already expired: left as it was
        else:
            assert change.expired is not None and change.expired.id == previous.id
            assert state_at(change.expired, T0 + timedelta(microseconds=1)) is SilenceState.EXPIRED


def test_reordered_matchers_make_a_new_silence() -> None:
    two = (m("a", "=", "1"), m("b", "=", "2"))
    previous = stored(T0 - H, T0 + H, two)
    change = post(draft(T0 - H, T0 + 2 * H, two[::-1]), previous, T0, "new")
    assert change.reason is ChangeReason.MATCHERS_CHANGED


def test_expire() -> None:
    assert expire(ACTIVE, T0) == ACTIVE.model_copy(update={"ends_at": T0, "updated_at": T0})
    assert expire(PENDING, T0) == PENDING.model_copy(update={"starts_at": T0, "ends_at": T0, "updated_at": T0})
    assert expire(OVER, T0) is OVER


def test_silenced_by_active_silences_only_sorted() -> None:
    silences = [
        stored(T0 - H, T0 + H, silence_id="b"),
        stored(T0 - H, T0 + H, silence_id="a"),
        stored(T0 + H, T0 + 2 * H, silence_id="p"),
        stored(T0 - 2 * H, T0 - H, silence_id="old"),
        stored(T0 - H, T0 + H, (m("team", "=", "web"),), silence_id="other"),
    ]
    verdict = silenced({"team": "db", "x": "1"}, silences, T0)
    assert (verdict.by, verdict.pending, verdict.muted) == (("a", "b"), ("p",), True)
    assert not silenced({"team": "ops"}, silences, T0).muted


def test_preview_lists_the_matching_label_sets() -> None:
    events = {"e2": {"team": "db"}, "e1": {"team": "db", "env": "prod"}, "e3": {"team": "web"}}
    assert preview(DB, events) == ["e1", "e2"]
