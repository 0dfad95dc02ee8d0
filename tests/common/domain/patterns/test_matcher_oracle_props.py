"""The matcher against the brute-force oracle: random patterns over random short streams, every contiguity and skip.

Each example also cuts the stream at a random input, snapshots the matcher through JSON, restores it and goes on:
the restored run must give the oracle's matches too.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.common.domain.patterns.matcher import PatternMatcher
from services.common.domain.patterns.spec import parse_pattern
from tests.common.domain.patterns.oracle import Outcome, run_oracle

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KINDS = ("a", "b", "c")


@st.composite
def _conditions(draw: st.DrawFn) -> dict[str, Any] | None:
    if draw(st.integers(0, 3)):
        return None  # most steps test the event type only, so that matches are common
    leaf: dict[str, Any] = {
        "field": draw(st.sampled_from(["v", "v", "w"])),
        "op": draw(st.sampled_from(["==", "!=", ">=", "<"])),
    }
    leaf["value"] = draw(st.integers(0, 2))
    if draw(st.integers(0, 4)) == 0:
        return {"logic": "NOT", "conditions": [leaf]}
    return leaf


@st.composite
def _times(draw: st.DrawFn) -> dict[str, Any] | None:
    if draw(st.booleans()):
        return None
    low = draw(st.sampled_from([1, 1, 2, 3]))
    high = draw(st.one_of(st.none(), st.integers(low, low + 2)))
    return {"min": low} if high is None else {"min": low, "max": high}


@st.composite
def specs(draw: st.DrawFn) -> dict[str, Any]:
    contiguity = draw(st.sampled_from(["relaxed", "strict", "any"]))
    count = draw(st.sampled_from([1, 2, 2, 2, 3, 3, 4]))
    steps: list[dict[str, Any]] = []
    for i in range(count):
        last = i == count - 1
        may_negate = i > 0 and not steps[-1].get("negate") and (last or contiguity != "strict")
        step: dict[str, Any] = {"name": f"s{i}", "event_type": draw(st.sampled_from(KINDS[:2]))}
        if may_negate and draw(st.booleans()):
            step["negate"] = True
        elif (times := draw(_times())) is not None:
            step["times"] = times
        if (conditions := draw(_conditions())) is not None:
            step["conditions"] = conditions
        steps.append(step)
    spec: dict[str, Any] = {
        "steps": steps,
        "within": f"{draw(st.sampled_from([1, 2, 3, 5, 8, 30]))}s",
        "contiguity": contiguity,
    }
    spec["skip"] = draw(st.sampled_from(["past_last", "to_next"]))
    if draw(st.booleans()):
        spec["same"] = ["u"]
    return spec


@st.composite
def streams(draw: st.DrawFn, spec: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Events (mostly of the pattern's types) and wall-clock ticks in time order; equal times are common;
    some payloads lack `u` or `v`. Half the streams are dense: one key, the pattern's types only, little time,
    so that several matches complete together and the skip strategies' ties are exercised."""
    dense = draw(st.booleans())
    kinds = [step["event_type"] for step in spec["steps"]] * 2 + ([] if dense else list(KINDS))
    keys = ["x"] if dense else ["x", "x", "y"]
    items: list[tuple[Any, ...]] = []
    now = T0
    for _ in range(draw(st.integers(2, 14))):
        now += timedelta(seconds=draw(st.sampled_from([0, 0, 1] if dense else [0, 0, 0, 1, 1, 3])))
        if draw(st.integers(0, 5)) == 0:
            items.append(("tick", now))
            continue
        payload: dict[str, Any] = {}
        if dense or draw(st.integers(0, 6)):
            payload["u"] = draw(st.sampled_from(keys))
        if draw(st.integers(0, 6)):
            payload["v"] = draw(st.integers(0, 2))
        items.append(("event", draw(st.sampled_from(kinds)), payload, now))
    return items


def run_matcher(spec: dict[str, Any], items: list[tuple[Any, ...]], final: datetime, cut: int) -> list[Outcome]:
    """Feed the items (snapshot and restore through JSON before item `cut`), then advance to `final`."""
    trigger = parse_pattern(spec)
    matcher = PatternMatcher(trigger, max_partials_per_key=100_000)
    out: list[Outcome] = []
    for index, item in enumerate([*items, ("tick", final)]):
        if index == cut:
            snapshot = json.loads(json.dumps(matcher.snapshot()))
            matcher = PatternMatcher.restore(trigger, snapshot, max_partials_per_key=100_000)
        matches = matcher.on_event(*item[1:]) if item[0] == "event" else matcher.advance(item[1])
        out.extend((m.key, index, tuple(tuple(e.seq for e in events) for _, events in m.steps)) for m in matches)
    assert matcher.counters["dropped"] == 0
    return sorted(out)


def _check(data: st.DataObject) -> None:
    spec = data.draw(specs(), label="spec")
    items = data.draw(streams(spec), label="items")
    extra, cut = data.draw(st.integers(0, 15), label="extra"), data.draw(st.integers(0, 16), label="cut")
    final = (items[-1][-1] if items else T0) + timedelta(seconds=extra)
    expected = run_oracle(spec, items, final)
    assert run_matcher(spec, items, final, cut) == expected, (spec, items)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_matcher_agrees_with_the_oracle(data: st.DataObject) -> None:
    _check(data)


@pytest.mark.slow
@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_matcher_agrees_with_the_oracle_at_length(data: st.DataObject) -> None:
    _check(data)
