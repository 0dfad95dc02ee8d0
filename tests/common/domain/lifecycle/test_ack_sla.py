"""The ACK SLA: parsing the setting, the due check with its reasons, the breach event and the history entry."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.common.domain.lifecycle.ack_sla import (
    DEFAULT_ACK_SLA,
    SLA_EVENT,
    AckSla,
    AckSlaConfigError,
    Breach,
    NoBreach,
    Watched,
    ack_sla_from,
    check,
    judge,
    parse_ack_sla,
    with_entry,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DEFAULT = parse_ack_sla(DEFAULT_ACK_SLA)
EVENT = Watched(
    event_id="ev-1",
    tenant="acme",
    rule_id="rule-1",
    rule_name="cpu_high_alert",
    priority="P1",
    severity="critical",
    status="open",
    fired_at=T0,
    fingerprint="fp-1",
    group_key="host=db-1",
    summary="cpu_usage > 85 for 5m",
)


@pytest.mark.parametrize(
    ("text", "limits", "described"),
    [
        ("P1=15m,P2=1h,P3=4h", {"P1": 900.0, "P2": 3600.0, "P3": 14400.0}, "P1=15m,P2=1h,P3=4h"),
        (" p2 = 1h , P1=15m ,", {"P1": 900.0, "P2": 3600.0}, "P1=15m,P2=1h"),  # case, spaces, trailing comma
        ("P5=1d", {"P5": 86400.0}, "P5=1d"),
        ("P1=1s", {"P1": 1.0}, "P1=1s"),
        ("P1=500ms", {"P1": 0.5}, "P1=500ms"),
        ("off", {}, "off"),
        ("OFF", {}, "off"),
        ("", {}, "off"),
        ("   ", {}, "off"),
    ],
)
def test_the_setting_parses(text: str, limits: dict[str, float], described: str) -> None:
    sla = parse_ack_sla(text)
    assert dict(sla.limits) == limits
    assert sla.enabled is bool(limits)
    assert sla.describe() == described


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("P1", "CEP_ACK_SLA: 'P1' is not PRIORITY=DURATION"),
        ("15m", "CEP_ACK_SLA: '15m' is not PRIORITY=DURATION"),
        ("P9=15m", "CEP_ACK_SLA: unknown priority 'P9' (use P1, P2, P3, P4, P5)"),
        ("=15m", "CEP_ACK_SLA: unknown priority ''"),
        ("P1=15 minutes", "CEP_ACK_SLA: P1: invalid duration '15 minutes'"),
        ("P1=", "CEP_ACK_SLA: P1: invalid duration ''"),
        ("P1=0s", "CEP_ACK_SLA: P1: the SLA must be longer than 0"),
        ("P1=15m,P1=1h", "CEP_ACK_SLA: priority P1 is given twice"),
        ("off,P1=15m", "CEP_ACK_SLA: 'off' is not PRIORITY=DURATION"),
    ],
)
def test_a_bad_setting_names_the_variable_and_the_entry(text: str, message: str) -> None:
    with pytest.raises(AckSlaConfigError) as caught:
        parse_ack_sla(text)
    assert str(caught.value).startswith(message), str(caught.value)


def test_a_tenant_policy_names_its_own_setting() -> None:
    """Issue 7's team policies build the same object from a mapping, with errors naming their field."""
    assert ack_sla_from({"P2": "30m"}, name="policies.ack_sla").limits == {"P2": 1800.0}
    with pytest.raises(AckSlaConfigError, match=r"^policies\.ack_sla: P2: invalid duration"):
        ack_sla_from({"P2": "soon"}, name="policies.ack_sla")


@pytest.mark.parametrize(
    ("event", "now", "expected"),
    [
        (EVENT, T0, NoBreach("not_due", T0 + timedelta(minutes=15))),
        (EVENT, T0 + timedelta(minutes=14, seconds=59), NoBreach("not_due", T0 + timedelta(minutes=15))),
        (replace(EVENT, status="acked"), T0 + timedelta(hours=9), NoBreach("acked")),
        (replace(EVENT, status="resolved"), T0 + timedelta(hours=9), NoBreach("resolved")),
        (replace(EVENT, priority="P4"), T0 + timedelta(days=9), NoBreach("no_sla")),
        (replace(EVENT, event_type=SLA_EVENT), T0 + timedelta(hours=9), NoBreach("sla_event")),
        (replace(EVENT, priority="P2"), T0 + timedelta(minutes=59), NoBreach("not_due", T0 + timedelta(hours=1))),
    ],
)
def test_no_breach_says_why(event: Watched, now: datetime, expected: NoBreach) -> None:
    assert check(DEFAULT, event, now) == expected


M = timedelta(minutes=1)
DUE = T0 + 15 * M  # the P1 deadline of EVENT


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        # The 50-minute stop: resolved by resolve_after at fired+5m, recorded only at fired+51m.
        (replace(EVENT, status="resolved", resolved_at=T0 + 5 * M), NoBreach("resolved")),
        (replace(EVENT, status="resolved", resolved_at=DUE), NoBreach("resolved")),  # at the deadline: in time
        (replace(EVENT, status="acked", acked_at=T0 + 14 * M), NoBreach("acked")),
        (replace(EVENT, status="resolved", acked_at=DUE, resolved_at=DUE + M), NoBreach("acked")),
        (replace(EVENT, status="resolved", acked_at=DUE + M, resolved_at=T0 + M), NoBreach("resolved")),
    ],
)
def test_a_close_at_or_before_the_deadline_cancels_the_breach_whenever_recorded(
    event: Watched, expected: NoBreach
) -> None:
    assert check(DEFAULT, event, T0 + 51 * M) == expected


@pytest.mark.parametrize(
    "event",
    [
        replace(EVENT, status="resolved", resolved_at=DUE + timedelta(seconds=1)),
        replace(EVENT, status="acked", acked_at=DUE + 5 * M),
        replace(EVENT, status="resolved", acked_at=DUE + M, resolved_at=DUE + 2 * M),
    ],
)
def test_a_close_after_the_deadline_does_not_undo_the_breach(event: Watched) -> None:
    verdict = check(DEFAULT, event, T0 + 51 * M)
    assert isinstance(verdict, Breach) and verdict.due_at == DUE


@pytest.mark.parametrize(
    ("horizon", "seen_at", "breached"),
    [
        (None, T0 + 51 * M, False),  # not caught up since the start
        (T0 + 50 * M, T0 + 51 * M, False),  # caught up with the deadline, not with when the event was seen
        (DUE - timedelta(seconds=1), T0 + 14 * M, False),  # the pipeline has not reached the deadline
        (DUE, T0 + 14 * M, True),
        (T0 + 51 * M, T0 + 51 * M, True),
    ],
)
def test_judge_waits_until_the_pipeline_has_caught_up(
    horizon: datetime | None, seen_at: datetime, breached: bool
) -> None:
    verdict = judge(DEFAULT, EVENT, T0 + 52 * M, horizon, seen_at)
    assert isinstance(verdict, Breach) is breached
    if not breached:
        assert verdict == NoBreach("catching_up", DUE)


def test_judge_keeps_the_other_reasons() -> None:
    late = T0 + 52 * M
    assert judge(DEFAULT, replace(EVENT, status="resolved", resolved_at=T0 + 5 * M), late, None, late) == NoBreach(
        "resolved"
    )
    assert judge(DEFAULT, EVENT, T0 + M, T0 + M, T0 + M) == NoBreach("not_due", DUE)


@pytest.mark.parametrize(
    ("event", "now", "sla", "overdue"),
    [
        (EVENT, T0 + timedelta(minutes=15), "15m", 0.0),  # due exactly now
        (EVENT, T0 + timedelta(minutes=15, seconds=2.5), "15m", 2.5),
        (replace(EVENT, priority="P2", event_type="deploy"), T0 + timedelta(hours=2), "1h", 3600.0),
        (replace(EVENT, priority="P3"), T0 + timedelta(hours=4, minutes=1), "4h", 60.0),
    ],
)
def test_an_open_event_past_its_sla_breaches(event: Watched, now: datetime, sla: str, overdue: float) -> None:
    verdict = check(DEFAULT, event, now)
    assert isinstance(verdict, Breach)
    assert (verdict.sla, verdict.overdue_seconds, verdict.due_at) == (sla, overdue, now - timedelta(seconds=overdue))


def test_the_breach_event_and_history_entry() -> None:
    breach = check(AckSla({"P1": 900.0}), EVENT, T0 + timedelta(minutes=20))
    assert isinstance(breach, Breach)
    assert breach.msg_id == "sla:ev-1"
    assert breach.payload() == {
        "event_type": "cep.ack.sla_breached",
        "event_id": "ev-1",
        "rule_id": "rule-1",
        "rule_name": "cpu_high_alert",
        "priority": "P1",
        "severity": "critical",
        "fired_at": "2026-03-01T12:00:00Z",
        "due_at": "2026-03-01T12:15:00Z",
        "sla": "15m",
        "overdue_seconds": 300.0,
        "alert_fingerprint": "fp-1",
        "group_key": "host=db-1",
        "summary": "cpu_usage > 85 for 5m",
    }
    assert breach.history_entry() == {
        "at": "2026-03-01T12:15:00Z",
        "status": "sla_breached",
        "actor": "system",
        "note": "not acknowledged within 15m (P1)",
    }


def test_cutoffs_are_per_priority() -> None:
    now = T0 + timedelta(hours=5)
    assert DEFAULT.cutoffs(now) == {
        "P1": now - timedelta(minutes=15),
        "P2": now - timedelta(hours=1),
        "P3": now - timedelta(hours=4),
    }
    assert AckSla().cutoffs(now) == {}


def _line(status: str, at: str) -> dict[str, str | None]:
    return {"at": at, "status": status, "actor": "system", "note": None}


@pytest.mark.parametrize(
    ("history", "entry", "order"),
    [
        ([_line("open", "2026-03-01T12:00:00Z")], _line("sla_breached", "2026-03-01T12:15:00Z"), ["open", "sla"]),
        (  # an ACK that came after the SLA ran out (recorded first, in a race) stays after the breach
            [_line("open", "2026-03-01T12:00:00Z"), _line("acked", "2026-03-01T12:15:03Z")],
            _line("sla_breached", "2026-03-01T12:15:00Z"),
            ["open", "sla", "acked"],
        ),
        (  # same instant: the breach goes after what was there
            [_line("open", "2026-03-01T12:00:00Z"), _line("resolved", "2026-03-01T12:15:00Z")],
            _line("sla_breached", "2026-03-01T12:15:00Z"),
            ["open", "resolved", "sla"],
        ),
        (  # `open` stays first even when its time is later (an event whose first transition was not `fired`)
            [_line("open", "2026-03-01T12:20:00Z")],
            _line("sla_breached", "2026-03-01T12:15:00Z"),
            ["open", "sla"],
        ),
    ],
)
def test_the_history_stays_chronological(
    history: list[dict[str, str | None]], entry: dict[str, str | None], order: list[str]
) -> None:
    merged = with_entry(history, entry)
    assert [str(e["status"]).replace("sla_breached", "sla") for e in merged] == order
    assert len(history) == len(order) - 1  # the input is not changed
