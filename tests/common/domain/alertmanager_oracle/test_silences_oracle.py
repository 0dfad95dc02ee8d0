"""Silences against the real Alertmanager 0.25 (differential): storing, refusing, editing, expiring, muting.

Generated silences (active, pending, expired) over generated label sets are posted to the real Alertmanager and
given to the domain. They must agree on what is stored (matchers, start moved to now, end, state), on which drafts
are refused, on whether an edit keeps the silence's id or replaces it (and expires the old one), and, for every
alert, on `silencedBy` and on `status.state`.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from services.common.domain.labels.matchers import Matcher, MatchType, from_api, to_api
from services.common.domain.silences.lifecycle import ChangeReason, check_draft, edit_reason, expire, post
from services.common.domain.silences.model import Silence, SilenceDraft, SilenceError, state_at
from services.common.domain.silences.muting import silenced
from tests.common.domain.alertmanager_oracle.generate import label_set, matcher, narrow_matchers, with_suite
from tests.support.alertmanager import Alertmanager, instant, stamp

SUITE = "silences"
ALERT_CASES = 120
SILENCE_CASES = 80
EDIT_CASES = 40
REFUSAL_CASES = 60
EMPTY_MATCHING = [("a", "=", ""), ("a", "=~", ".*"), ("a", "=~", "x*"), ("a", "!=", "x"), ("a", "!~", "x")]
# Regex syntax where RE2 and Go's regexp might part ways; Alertmanager 0.25 refuses `\C` and `(?<n>...)`, RE2 not.
ODD_PATTERNS = ["(", "(?=x)", "x{1001}", "x{1000}", "(?P<n>x)", "(?<n>x)", "[(?<]", "[[:alpha:]]+", "\\pL+", "x**"]
ODD_PATTERNS += [
    "\\z",
    "\\Z",
    "(?U)x*",
    "\\Q.*\\E",
    "\\C",
    "\\\\C",
    "[^]\\C]",
    "x{2,1}",
    "\\8",
    "(?i)",
    "[a-\\d]",
    "\\b",
]


def _body(draft: SilenceDraft) -> dict[str, Any]:
    body = {
        "matchers": [to_api(m) for m in draft.matchers],
        "startsAt": stamp(draft.starts_at),
        "endsAt": stamp(draft.ends_at),
        "createdBy": draft.created_by,
        "comment": draft.comment,
    }
    return body | ({"id": draft.id} if draft.id else {})


def _draft(found: tuple[Matcher, ...], start: datetime, end: datetime, silence_id: str | None = None) -> SilenceDraft:
    return SilenceDraft(id=silence_id, matchers=found, starts_at=start, ends_at=end, created_by="oracle", comment="c")


def _synced(ours: Silence, got: dict[str, Any]) -> Silence:
    """Check Alertmanager's stored silence against ours, then take its clock readings (ours used our clock)."""
    assert got["matchers"] == [to_api(m) for m in ours.matchers]
    assert (got["createdBy"], got["comment"]) == (ours.created_by, ours.comment)
    assert instant(got["endsAt"]) == ours.ends_at or abs(instant(got["endsAt"]) - ours.ends_at) < timedelta(seconds=2)
    assert abs(instant(got["startsAt"]) - ours.starts_at) < timedelta(seconds=2)
    stored = ours.model_copy(update={"starts_at": instant(got["startsAt"]), "ends_at": instant(got["endsAt"])})
    assert got["status"]["state"] == state_at(stored, datetime.now(UTC)).value
    return stored


def _create(alertmanager: Alertmanager, draft: SilenceDraft) -> Silence:
    before = datetime.now(UTC)
    response = alertmanager.post_silence(_body(draft))
    assert response.status_code == 200, response.text
    silence_id = response.json()["silenceID"]
    change = post(draft, None, before, silence_id)
    assert change.reason is ChangeReason.CREATED
    if draft.starts_at < before:
        assert instant(alertmanager.silence(silence_id)["startsAt"]) >= before - timedelta(milliseconds=1)
    return _synced(change.silence, alertmanager.silence(silence_id))


def _generated(alertmanager: Alertmanager, rng: random.Random) -> dict[str, Silence]:
    ours: dict[str, Silence] = {}
    for _ in range(SILENCE_CASES):
        kind = rng.choice(["active", "active", "active", "pending", "expired"])
        now = datetime.now(UTC)
        start = now + timedelta(hours=1) if kind == "pending" else now - timedelta(minutes=rng.randint(1, 120))
        draft = _draft(with_suite(rng, narrow_matchers(rng), SUITE), start, now + timedelta(hours=rng.randint(2, 5)))
        silence = _create(alertmanager, draft)
        if kind == "expired":
            alertmanager.expire(silence.id)
            silence = _synced(expire(silence, datetime.now(UTC)), alertmanager.silence(silence.id))
            assert alertmanager.silence(silence.id)["status"]["state"] == "expired"
        ours[silence.id] = silence
    return ours


def _edit(rng: random.Random, previous: Silence) -> SilenceDraft:
    now = datetime.now(UTC)
    found, start, end = previous.matchers, previous.starts_at, previous.ends_at + timedelta(hours=1)
    kind = rng.choice(["extend", "extend", "rematch", "reorder", "restart", "postpone"])
    if kind == "rematch":
        found = with_suite(rng, narrow_matchers(rng), SUITE)
    elif kind == "reorder":
        found = found[::-1]
    elif kind == "restart":
        start = now + timedelta(minutes=30)  # an active one cannot move its start; a pending one can
    elif kind == "postpone":
        start = now - timedelta(minutes=10) if start > now else start  # a pending start into the past
    end = max(end, start + timedelta(hours=1), now + timedelta(hours=1))
    return _draft(found, start, end, previous.id)


def _edited(alertmanager: Alertmanager, ours: dict[str, Silence], rng: random.Random) -> list[ChangeReason]:
    reasons = []
    for previous_id in rng.sample(sorted(ours), EDIT_CASES):
        previous = ours[previous_id]
        draft = _edit(rng, previous)
        before = datetime.now(UTC)
        response = alertmanager.post_silence(_body(draft))
        assert response.status_code == 200, response.text
        new_id = response.json()["silenceID"]
        reason = edit_reason(previous, draft, before)
        assert (new_id == previous.id) == (reason is ChangeReason.UPDATED), (reason, previous, draft)
        change = post(draft, previous, before, new_id)
        ours[new_id] = _synced(change.silence, alertmanager.silence(new_id))
        if change.expired is not None:
            ours[previous.id] = _synced(change.expired, alertmanager.silence(previous.id))
            assert alertmanager.silence(previous.id)["status"]["state"] == "expired"
        reasons.append(reason)
    return reasons


def test_silences_agree_with_alertmanager(alertmanager: Alertmanager) -> None:
    rng = random.Random(3339)
    alerts = [label_set(rng, suite=SUITE, case=str(case)) for case in range(ALERT_CASES)]
    alertmanager.post_alerts([{"labels": labels} for labels in alerts])
    ours = _generated(alertmanager, rng)
    reasons = _edited(alertmanager, ours, rng)
    assert {ChangeReason.UPDATED, ChangeReason.MATCHERS_CHANGED} <= set(reasons)  # both paths were exercised
    now = datetime.now(UTC)
    got = alertmanager.alerts(f'suite="{SUITE}"')
    assert len(got) == ALERT_CASES
    muted = 0
    for alert in got:
        verdict = silenced(alert["labels"], ours.values(), now)
        assert alert["status"]["silencedBy"] == list(verdict.by), alert["labels"]
        assert alert["status"]["state"] == ("suppressed" if verdict.muted else "active")
        muted += verdict.muted
    assert 10 < muted < ALERT_CASES - 10  # the generated silences mute some alerts and spare others


def _refusal_case(rng: random.Random, now: datetime) -> dict[str, Any]:
    name = rng.choice(["a", "a", "a", "9x", "team", "a", "b", "a:b", "env", "team"])
    empty = rng.sample(EMPTY_MATCHING, rng.randint(1, 2))
    raw = [to_api(Matcher(name="a", type=MatchType(op), value=value)) | {"name": name} for _, op, value in empty]
    if rng.random() < 0.8:
        raw.append(to_api(matcher(rng)))
    if rng.random() < 0.15:
        raw.append({"name": "a", "value": rng.choice(ODD_PATTERNS), "isRegex": True, "isEqual": True})
    start = now + timedelta(minutes=rng.choice([-30, 30, 90]))
    end = now + timedelta(minutes=rng.choice([-10, 30, 60, 120, 180, 240]))
    return {"matchers": raw, "startsAt": stamp(start), "endsAt": stamp(end), "createdBy": "o", "comment": "c"}


def _our_verdict(body: dict[str, Any], now: datetime) -> str | None:
    try:
        found = tuple(from_api(raw) for raw in body["matchers"])
        check_draft(_draft(found, instant(body["startsAt"]), instant(body["endsAt"])), now)
    except (SilenceError, ValueError) as exc:
        return str(exc)
    return None


def test_refusals_agree_with_alertmanager(alertmanager: Alertmanager) -> None:
    rng = random.Random(1999)
    refused = 0
    for _ in range(REFUSAL_CASES):
        now = datetime.now(UTC)
        body = _refusal_case(rng, now)
        ours = _our_verdict(body, now)
        response = alertmanager.post_silence(body)
        if response.status_code == 200:
            alertmanager.expire(response.json()["silenceID"])  # never leave a stray silence muting other suites
        assert (response.status_code == 400) == (ours is not None), (body, ours, response.text)
        refused += ours is not None
    assert 5 < refused < REFUSAL_CASES - 5


def test_regex_syntax_is_refused_as_alertmanager_refuses_it(alertmanager: Alertmanager) -> None:
    now = datetime.now(UTC)
    suite = to_api(Matcher(name="suite", type=MatchType.EQUAL, value="regex"))
    for pattern in ODD_PATTERNS:
        body = _refusal_case(random.Random(0), now) | {
            "startsAt": stamp(now),
            "endsAt": stamp(now + timedelta(hours=1)),
        }
        body["matchers"] = [suite, {"name": "a", "value": pattern, "isRegex": True, "isEqual": False}]
        response = alertmanager.post_silence(body)
        if response.status_code == 200:
            alertmanager.expire(response.json()["silenceID"])
        assert (response.status_code == 400) == (_our_verdict(body, now) is not None), pattern
