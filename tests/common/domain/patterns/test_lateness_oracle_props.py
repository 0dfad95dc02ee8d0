"""Late events against the oracle: a stream shuffled within the allowed lateness, fed through the lateness buffer to
the matcher, gives the oracle's matches over the accepted events in event-time order (equal times in arrival order).

Which events are accepted is restated here from docs/patterns.md (an event before `newest - lateness` on arrival is
late), not read from the buffer; the run is cut at a random input, snapshotted through JSON and restored.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.common.domain.patterns.lateness import LatenessBuffer
from services.common.domain.patterns.matcher import PatternMatcher
from services.common.domain.patterns.spec import parse_pattern
from tests.common.domain.patterns.oracle import run_oracle
from tests.common.domain.patterns.test_matcher_oracle_props import T0, specs, streams

Chains = list[tuple[str, tuple[tuple[int, ...], ...]]]


def accepted_in_order(arrivals: list[tuple[Any, ...]], lateness: timedelta) -> tuple[list[tuple[Any, ...]], int]:
    """The events the stated rule accepts, sorted by (time, arrival), and how many it refuses as late."""
    newest: datetime | None = None
    kept: list[tuple[datetime, int, tuple[Any, ...]]] = []
    late = 0
    for n, item in enumerate(arrivals):
        time = item[-1]
        if newest is not None and time < newest - lateness:
            late += 1
            continue
        kept.append((time, n, item))
        newest = time if newest is None else max(newest, time)
    return [item for _, _, item in sorted(kept, key=lambda k: (k[0], k[1]))], late


def run_buffered(spec: dict[str, Any], arrivals: list[tuple[Any, ...]], lateness: timedelta, cut: int) -> Chains:
    """Feed arrivals through a buffer to a matcher (snapshot and restore both before `cut`), then flush to the end."""
    trigger = parse_pattern(spec)
    matcher, buffer = PatternMatcher(trigger, max_partials_per_key=100_000), LatenessBuffer(lateness)
    found: Chains = []

    def release() -> None:
        for held in buffer.release():
            found.extend((m.key, _chain(m)) for m in matcher.on_event(held.event_type, held.payload, held.time))
        if buffer.watermark is not None:
            found.extend((m.key, _chain(m)) for m in matcher.advance(buffer.watermark))

    for index, (_, kind, payload, time) in enumerate(arrivals):
        if index == cut:
            state = json.loads(json.dumps({"m": matcher.snapshot(), "b": buffer.snapshot()}))
            matcher = PatternMatcher.restore(trigger, state["m"], max_partials_per_key=100_000)
            buffer = LatenessBuffer.restore(lateness, state["b"])
        if buffer.offer(kind, payload, time):
            release()
        else:
            matcher.counters["late"] += 1
    end = max((item[-1] for item in arrivals), default=T0) + timedelta(days=1)
    buffer.advance(end)
    release()
    assert buffer.empty
    found.append(("late", ((matcher.counters["late"],),)))
    return sorted(found)


def _chain(match: Any) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(e.seq for e in events) for _, events in match.steps)


def _check(data: st.DataObject) -> None:
    spec = data.draw(specs(), label="spec")
    events = [item for item in data.draw(streams(spec), label="items") if item[0] == "event"]
    lateness = timedelta(seconds=data.draw(st.sampled_from([0, 1, 2, 5]), label="lateness"))
    # Arrival order: each event delayed by 0..6 s (some beyond the lateness: refused), stable for equal arrivals.
    delays = data.draw(st.lists(st.integers(0, 6), min_size=len(events), max_size=len(events)), label="delays")
    order = sorted(range(len(events)), key=lambda n: (events[n][-1] + timedelta(seconds=delays[n]), n))
    arrivals = [events[n] for n in order]
    cut = data.draw(st.integers(0, len(arrivals)), label="cut")
    in_order, late = accepted_in_order(arrivals, lateness)
    final = (in_order[-1][-1] if in_order else T0) + timedelta(days=1)
    expected = sorted([(key, chain) for key, _, chain in run_oracle(spec, in_order, final)] + [("late", ((late,),))])
    assert run_buffered(spec, arrivals, lateness, cut) == expected, (spec, arrivals, lateness)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_late_events_within_the_lateness_match_as_in_event_time_order(data: st.DataObject) -> None:
    _check(data)


@pytest.mark.slow
@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_late_events_within_the_lateness_match_as_in_event_time_order_at_length(data: st.DataObject) -> None:
    _check(data)
