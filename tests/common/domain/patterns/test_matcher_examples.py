"""Worked examples of the pattern matcher, hand-checked against docs/patterns.md; literal UTC times, no mocks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.common.domain.patterns.matcher import (
    DEFAULT_MAX_PARTIALS_PER_KEY,
    MAX_PARTIALS_PER_KEY,
    PatternMatcher,
)
from services.common.domain.patterns.simulate import simulate_pattern
from services.common.domain.patterns.spec import parse_pattern

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

BRUTE_FORCE = {
    "steps": [
        {"name": "fail", "event_type": "login.failed", "times": {"min": 5}},
        {"name": "ok", "event_type": "login.succeeded"},
    ],
    "within": "2m",
    "same": ["user"],
}
UNPAID = {
    "steps": [
        {"name": "order", "event_type": "order.placed"},
        {"name": "paid", "event_type": "payment.received", "negate": True},
    ],
    "within": "15m",
    "same": ["order_id"],
}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def feed(spec: dict[str, Any], events: list[tuple[str, dict[str, Any], float]], **options: Any) -> PatternMatcher:
    matcher = PatternMatcher(parse_pattern(spec), **options)
    matcher.emitted = []  # type: ignore[attr-defined]
    for kind, payload, seconds in events:
        matcher.emitted.extend(matcher.on_event(kind, payload, at(seconds)))  # type: ignore[attr-defined]
    return matcher


def positions(matcher: PatternMatcher) -> list[tuple[tuple[int, ...], ...]]:
    return [tuple(tuple(e.seq for e in events) for _, events in m.steps) for m in matcher.emitted]  # type: ignore[attr-defined]


def letters(text: str, **payload: Any) -> list[tuple[str, dict[str, Any], float]]:
    """`"aab"` -> events a, a, b one second apart."""
    return [(kind, dict(payload), float(i)) for i, kind in enumerate(text)]


def test_brute_force_login_takes_every_failure_then_the_success() -> None:
    events = [("login.failed", {"user": "ann"}, float(i)) for i in range(6)]
    events += [("login.failed", {"user": "bob"}, 6.0), ("login.succeeded", {"user": "bob"}, 7.0)]
    events += [("login.succeeded", {"user": "ann"}, 60.0)]
    matcher = feed(BRUTE_FORCE, events)
    [match] = matcher.emitted  # type: ignore[attr-defined]
    assert (match.key, match.at) == ("user=ann", at(60))
    assert positions(matcher) == [((0, 1, 2, 3, 4, 5), (8,))]
    payload = match.payload()
    assert (
        payload["user"] == "ann"
        and len(payload["matched"]["fail"]) == 6
        and payload["matched"]["ok"] == [{"user": "ann"}]
    )
    assert [link["step"] for link in match.explain()] == ["fail", "ok"]


def test_brute_force_login_outside_two_minutes_does_not_match() -> None:
    events = [("login.failed", {"user": "ann"}, float(i * 30)) for i in range(5)]  # 0 .. 120 s: the 5th at 2m
    assert positions(feed(BRUTE_FORCE, [*events, ("login.succeeded", {"user": "ann"}, 120.0)])) == [
        ((0, 1, 2, 3, 4), (5,))
    ]
    assert positions(feed(BRUTE_FORCE, [*events, ("login.succeeded", {"user": "ann"}, 120.5)])) == []


def test_unpaid_order_fires_at_its_deadline_on_event_time() -> None:
    matcher = feed(
        UNPAID,
        [
            ("order.placed", {"order_id": "o1"}, 0.0),
            ("order.placed", {"order_id": "o2"}, 60.0),
            ("order.placed", {"order_id": "o3"}, 900.0),  # exactly o1's deadline: o1 does not fire yet
        ],
    )
    assert matcher.emitted == []  # type: ignore[attr-defined]
    [fired] = matcher.on_event("payment.received", {"order_id": "o2"}, at(900.5))  # event time passes o1's deadline
    assert (fired.key, fired.at, fired.deadline) == ("order_id=o1", at(900), at(900))
    assert fired.payload()["matched"] == {"order": [{"order_id": "o1"}]}  # negated steps hold no events
    assert matcher.on_event("payment.received", {"order_id": "o3"}, at(1800)) == []  # at the deadline: in time
    assert matcher.advance(at(1801)) == [] and matcher.counters["cancelled"] == 2


def test_unpaid_order_fires_on_advance_when_the_stream_is_silent() -> None:
    matcher = feed(UNPAID, [("order.placed", {"order_id": "o1"}, 0.0)])
    assert matcher.advance(at(900)) == []
    [fired] = matcher.advance(at(905))
    assert fired.key == "order_id=o1" and fired.at == at(900)
    assert matcher.advance(at(2000)) == [] and matcher.partials() == {}


def test_two_correlated_alerts_on_one_host() -> None:
    spec = {
        "steps": [
            {"name": "disk", "event_type": "cep.alert.fired", "conditions": _rule("disk_full")},
            {"name": "down", "event_type": "cep.alert.fired", "conditions": _rule("service_down")},
        ],
        "within": "10m",
        "same": ["group.host"],
    }
    events = [
        ("cep.alert.fired", {"rule_name": "disk_full", "group": {"host": "db-1"}}, 0.0),
        ("cep.alert.fired", {"rule_name": "service_down", "group": {"host": "db-2"}}, 10.0),
        ("cep.alert.fired", {"rule_name": "cpu_high", "group": {"host": "db-1"}}, 20.0),
        ("cep.alert.fired", {"rule_name": "service_down", "group": {"host": "db-1"}}, 30.0),
    ]
    matcher = feed(spec, events)
    assert [m.key for m in matcher.emitted] == ["group.host=db-1"]  # type: ignore[attr-defined]
    assert positions(matcher) == [((0,), (3,))]


def _rule(name: str) -> dict[str, Any]:
    return {"field": "rule_name", "op": "==", "value": name}


AB = [{"name": "x", "event_type": "a"}, {"name": "y", "event_type": "b"}]
A_B_NOT_N_C = [
    {"name": "x", "event_type": "a"},
    {"name": "y", "event_type": "b"},
    {"name": "n", "event_type": "n", "negate": True},
    {"name": "z", "event_type": "c"},
]
TWICE = [{"name": "x", "event_type": "a", "times": {"min": 2, "max": 2}}]


@pytest.mark.parametrize(
    ("steps", "stream", "contiguity", "skip", "expected"),
    [
        # a a b b: strict needs the b right after its a; relaxed and any start at the first a
        (AB, "aabb", "strict", "past_last", [((1,), (2,))]),
        (AB, "aabb", "strict", "to_next", [((1,), (2,))]),
        (AB, "aabb", "relaxed", "past_last", [((0,), (2,))]),
        (AB, "aabb", "relaxed", "to_next", [((0,), (2,)), ((1,), (2,))]),
        (AB, "aabb", "any", "past_last", [((0,), (2,))]),
        (AB, "aabb", "any", "to_next", [((0,), (2,)), ((1,), (2,))]),
        # a b n b c: relaxed took the first b, which n then cuts from c; any may take the second b instead
        (A_B_NOT_N_C, "abnbc", "relaxed", "past_last", []),
        (A_B_NOT_N_C, "abnbc", "relaxed", "to_next", []),
        (A_B_NOT_N_C, "abnbc", "any", "past_last", [((0,), (3,), (4,))]),
        (A_B_NOT_N_C, "abnbc", "any", "to_next", [((0,), (3,), (4,))]),
        # a a a: past_last consumes the first two; to_next lets the second start the next match
        (TWICE, "aaa", "strict", "past_last", [((0, 1),)]),
        (TWICE, "aaa", "strict", "to_next", [((0, 1),), ((1, 2),)]),
        (TWICE, "aaa", "relaxed", "past_last", [((0, 1),)]),
        (TWICE, "aaa", "relaxed", "to_next", [((0, 1),), ((1, 2),)]),
        (TWICE, "aaa", "any", "past_last", [((0, 1),)]),
        (TWICE, "aaa", "any", "to_next", [((0, 1),), ((1, 2),)]),
    ],
)
def test_contiguity_and_skip(
    steps: list[dict[str, Any]], stream: str, contiguity: str, skip: str, expected: list[Any]
) -> None:
    spec = {"steps": steps, "within": "1m", "contiguity": contiguity, "skip": skip}
    assert positions(feed(spec, letters(stream))) == expected


@pytest.mark.parametrize(
    ("times", "stream", "expected"),
    [
        ({"min": 2, "max": 3}, "aaaab", [((0, 1, 2), (4,))]),  # at most 3: the fourth a is passed over
        ({"min": 2}, "aaab", [((0, 1, 2), (3,))]),  # no upper bound: relaxed takes every a
        ({"min": 2}, "ab", []),
        ({"min": 1, "max": 1}, "aab", [((0,), (2,))]),
    ],
)
def test_quantifiers(times: dict[str, int], stream: str, expected: list[Any]) -> None:
    spec = {"steps": [{**AB[0], "times": times}, AB[1]], "within": "1m"}
    assert positions(feed(spec, letters(stream))) == expected


@pytest.mark.parametrize(
    ("stream", "expected"),
    [
        ("anb", []),  # n between a and b cancels
        ("anab", [((0, 2), (3,))]),  # repeating a after n opens the way to b again
        ("abn", [((0,), (1,))]),  # n after b is not between
    ],
)
def test_negation_between_steps(stream: str, expected: list[Any]) -> None:
    steps = [{**AB[0], "times": {"min": 1}}, {"name": "n", "event_type": "n", "negate": True}, AB[1]]
    assert positions(feed({"steps": steps, "within": "1m"}, letters(stream))) == expected


def test_partials_expire_at_within_inclusive() -> None:
    spec = {"steps": AB, "within": "10s"}
    assert positions(feed(spec, [("a", {}, 0.0), ("b", {}, 10.0)])) == [((0,), (1,))]
    late = feed(spec, [("a", {}, 0.0), ("b", {}, 10.001)])
    assert positions(late) == [] and late.counters["expired"] == 1 and late.partials() == {}


def test_the_cap_drops_the_oldest_partial_of_a_key_and_counts_it() -> None:
    events = [*letters("aaa", u="x"), ("a", {"u": "y"}, 3.0), ("b", {"u": "x"}, 4.0)]
    matcher = feed({"steps": AB, "within": "1m", "same": ["u"]}, events, max_partials_per_key=2)
    assert matcher.counters["dropped"] == 1  # a at seq 0 of key x; key y keeps its one partial
    assert positions(matcher) == [((1,), (4,))]
    assert list(matcher.partials()) == ["u=y"]
    for bad in (0, MAX_PARTIALS_PER_KEY + 1):
        with pytest.raises(ValueError, match="max_partials_per_key"):
            PatternMatcher(parse_pattern(BRUTE_FORCE), max_partials_per_key=bad)
    assert PatternMatcher(parse_pattern(BRUTE_FORCE)).cap == DEFAULT_MAX_PARTIALS_PER_KEY == 1_000


@pytest.mark.parametrize("cut", range(9))
def test_snapshot_and_restore_mid_pattern_continue_exactly(cut: int) -> None:
    events = [("login.failed", {"user": u}, float(i)) for i, u in enumerate("aabaaabb")]
    events += [("login.succeeded", {"user": "a"}, 9.0), ("login.succeeded", {"user": "b"}, 10.0)]
    whole = feed(BRUTE_FORCE, events)
    trigger = parse_pattern(BRUTE_FORCE)
    first = feed(BRUTE_FORCE, events[:cut])
    snapshot = json.loads(json.dumps(first.snapshot()))
    restored = PatternMatcher.restore(trigger, snapshot)
    assert restored.snapshot() == snapshot
    rest = [m for kind, payload, s in events[cut:] for m in restored.on_event(kind, payload, at(s))]
    assert [(m.key, m.positions) for m in first.emitted + rest] == [(m.key, m.positions) for m in whole.emitted]  # type: ignore[attr-defined]
    assert restored.snapshot() == whole.snapshot()


def test_equal_times_follow_stream_order_and_late_events_are_counted() -> None:
    spec = {"steps": AB, "within": "1m"}
    assert positions(feed(spec, [("b", {}, 5.0), ("a", {}, 5.0), ("b", {}, 5.0)])) == [((1,), (2,))]
    matcher = feed(spec, [("a", {}, 5.0), ("b", {}, 4.0)])
    assert positions(matcher) == [] and matcher.counters["late"] == 1


def test_events_without_the_correlation_path_take_no_part() -> None:
    assert positions(feed({"steps": AB, "within": "1m", "same": ["u"]}, [("a", {}, 0.0), ("b", {"u": 1}, 1.0)])) == []


def test_simulate_explains_each_input_and_the_chain() -> None:
    items = [(kind, {"user": "ann"}, at(i)) for i, kind in enumerate(["login.failed"] * 5 + ["login.succeeded"])]
    items.insert(2, ("login.succeeded", {"user": "ann"}, at(1.5)))
    result = simulate_pattern(parse_pattern(BRUTE_FORCE), items)
    [match] = result["matches"]
    assert [len(link["events"]) for link in match["chain"]] == [5, 1]
    lines = result["trace"]
    kept = [line for line in lines if line["seq"] == 2 and line["outcome"] == "kept"]
    assert kept and "fail" in kept[0]["reason"]  # the early success could not advance a partial with 2 fails
    assert any(line["outcome"] == "completed" for line in lines)
    assert result["partials"] == {}


def test_simulate_shows_where_each_partial_stands() -> None:
    items = [("login.failed", {"user": "ann"}, at(0)), ("login.failed", {"user": "ann"}, at(1))]
    partials = simulate_pattern(parse_pattern(BRUTE_FORCE), items)["partials"]["user=ann"]
    assert [(p["step"], p["count"]) for p in partials] == [("fail", 2), ("fail", 1)]
    assert partials[0]["deadline"] == at(120).isoformat()


@pytest.mark.parametrize("skip", ["past_last", "to_next"])
def test_waiting_matches_of_one_deadline_fire_in_position_order(skip: str) -> None:
    """a b, not n: under any contiguity a0 waits twice (with b1 and b3); the earliest chain fires, then a2 b3."""
    steps = [*AB, {"name": "n", "event_type": "n", "negate": True}]
    spec = {"steps": steps, "within": "10s", "contiguity": "any", "skip": skip}
    matcher = feed(spec, [("a", {}, 0.0), ("b", {}, 0.0), ("a", {}, 0.0), ("b", {}, 0.0)])
    fired = matcher.advance(at(11))
    assert [m.positions for m in fired] == [(0, 1), (2, 3)]
    assert {m.at for m in fired} == {at(10)}


def test_a_snapshot_of_another_version_is_refused() -> None:
    snapshot = {**feed(BRUTE_FORCE, []).snapshot(), "version": 99}
    with pytest.raises(ValueError, match="snapshot version 99"):
        PatternMatcher.restore(parse_pattern(BRUTE_FORCE), snapshot)


def test_deadlines_of_several_keys_fire_in_deadline_then_key_order() -> None:
    orders = [("order.placed", {"order_id": o}, s) for o, s in [("o3", 0.0), ("o2", 5.0), ("o1", 5.0)]]
    fired = feed(UNPAID, orders).advance(at(3600))
    assert [(m.key, m.at) for m in fired] == [
        ("order_id=o3", at(900)),
        ("order_id=o1", at(905)),
        ("order_id=o2", at(905)),
    ]
