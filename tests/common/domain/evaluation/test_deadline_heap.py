"""The rule engine's timer heap, by table: due entries come out once, in any order of arming; rebuilds bound it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.common.domain.evaluation.deadline_heap import Timers

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_due_takes_every_deadline_up_to_now_once() -> None:
    timers = Timers()
    timers.arm(T0 + timedelta(seconds=30), "r1", "a")
    timers.arm(T0 + timedelta(seconds=10), "r2", "b")
    timers.arm(T0 + timedelta(seconds=10), "r1", "a")  # re-armed: a stale entry stays until it is due
    assert timers.due(T0) == set()
    assert timers.due(T0 + timedelta(seconds=10)) == {("r1", "a"), ("r2", "b")}
    assert len(timers) == 1
    assert timers.due(T0 + timedelta(seconds=10)) == set()
    assert timers.due(T0 + timedelta(minutes=1)) == {("r1", "a")}
    assert len(timers) == 0


def test_arm_asks_for_a_rebuild_past_its_cap_and_rebuild_keeps_only_the_live() -> None:
    timers = Timers()
    asked = [timers.arm(T0 + timedelta(seconds=n), "r", str(n)) for n in range(65)]
    assert asked == [False] * 64 + [True]
    timers.rebuild([(T0, "r", "live")])
    assert len(timers) == 1 and timers.due(T0) == {("r", "live")}
