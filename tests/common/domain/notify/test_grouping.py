"""Grouping's pure rules: when a group's batch is due, what it holds, repeats and ACKs."""

from __future__ import annotations

from typing import Any

from services.common.domain.notify.grouping import GroupPolicy, GroupState, acknowledge, flush, join, repeat

POLICY = GroupPolicy(("host",), wait=30.0, interval=300.0, repeat=3600.0)


def member(n: int, kind: str = "fired", fp: str | None = None) -> dict[str, Any]:
    return {"transition_id": f"t{n}", "kind": kind, "fingerprint": fp or f"fp{n}", "payload": {"host": "a"}}


def test_grouping_is_on_only_with_group_by_or_group_wait() -> None:
    assert GroupPolicy.of(None) is None and GroupPolicy.of({"cooldown": "5m"}) is None
    assert GroupPolicy.of({"group_interval": "1m"}) is None
    assert GroupPolicy.of({"group_by": ["host"]}) == GroupPolicy(("host",), 30.0, 300.0, None)
    assert GroupPolicy.of({"group_wait": "0s", "repeat_interval": "4h"}) == GroupPolicy((), 0.0, 300.0, 14400.0)


def test_labels_follow_group_by_order_and_name_missing_values() -> None:
    policy = GroupPolicy(("region", "host"))
    assert policy.labels({"host": "h1", "region": "eu"}) == "region=eu,host=h1"
    assert policy.labels({"host": "h1"}) == "region=<missing>,host=h1"
    assert GroupPolicy(()).labels({"x": 1}) == ""


def test_first_batch_waits_group_wait_then_later_ones_group_interval() -> None:
    state = GroupState("host=a")
    assert join(state, member(1), 100.0, POLICY) == 130.0
    assert join(state, member(2), 110.0, POLICY) is None  # the timer is set
    assert join(state, member(2), 111.0, POLICY) is None and len(state.pending) == 2  # a redelivery joins once
    members, dropped, repeat_due = flush(state, 130.0, POLICY)
    assert [m["transition_id"] for m in members] == ["t1", "t2"] and dropped == 0 and repeat_due == 3730.0
    assert join(state, member(1), 131.0, POLICY) is None and state.pending == []  # already sent in a batch
    assert join(state, member(3), 140.0, POLICY) == 430.0  # last flush + group_interval
    assert join(state, member(4), 500.0, POLICY) is None
    members, _, _ = flush(state, 500.0, POLICY)
    assert [m["transition_id"] for m in members] == ["t3", "t4"]
    assert join(state, member(5), 900.0, POLICY) == 900.0  # the interval has passed: due at once


def test_repeats_list_alerts_firing_unacknowledged_and_stop_when_none_are() -> None:
    state = GroupState("host=a")
    join(state, member(1, fp="A"), 0.0, POLICY)
    join(state, member(2, fp="B"), 0.0, POLICY)
    _, _, due = flush(state, 30.0, POLICY)
    assert due == 3630.0
    again, next_due = repeat(state, state.flushes, 3630.0, POLICY)
    assert [m["fingerprint"] for m in again] == ["A", "B"] and next_due == 7230.0
    stale, _ = repeat(state, state.flushes - 1, 7230.0, POLICY)  # a timer a later repeat superseded
    assert stale == []
    assert acknowledge(state, "A") and not acknowledge(state, "A")
    join(state, member(3, kind="resolved", fp="B"), 7000.0, POLICY)
    members, _, due = flush(state, 7000.0, POLICY)
    assert [m["kind"] for m in members] == ["resolved"] and due is None  # nothing left firing un-acknowledged
    assert repeat(state, state.flushes, 7230.0, POLICY) == ([], None)


def test_without_repeat_interval_there_are_no_repeats() -> None:
    policy = GroupPolicy(("host",))
    state = GroupState("host=a")
    join(state, member(1), 0.0, policy)
    assert flush(state, 30.0, policy)[2] is None
    assert repeat(state, state.flushes, 60.0, policy) == ([], None)


def test_state_round_trips() -> None:
    state = GroupState("host=a")
    join(state, member(1), 0.0, POLICY)
    flush(state, 30.0, POLICY)
    join(state, member(2), 40.0, POLICY)
    assert GroupState.from_dict(state.as_dict()) == state
