"""One event through one lane: every quick rule of a group judged on its series, steady samples taken inline.

Most samples move nothing: a series at rest stays at rest (false while inactive) and a firing series stays firing
(true: its episode counts the sample). For those `step_lane` does what `take_quick` does, without a method call per
rule and with one sample tuple per (value, verdict) shared by the lane's series (tuples are immutable and the
series would each build an equal one). Any other sample goes through `FastThresholdSeries.settle` (or, for a raw
value that is not a number, `take_quick`), so the lifecycle's moves, and their order, are the reference's.
"""

from __future__ import annotations

from typing import Any, Protocol

from services.common.domain.evaluation.compiled.fast_thresholds import LAZY, QuickRule
from services.common.domain.evaluation.compiled.quick_lanes import Lane
from services.common.domain.events.model import Event
from services.common.domain.lifecycle.transitions import Transition


class LaneHost(Protocol):
    """The engine around the lane: its general path, and its handling of a rule that raised."""

    def lane_general(
        self, out: list[Transition], quick: QuickRule, lane: Lane, event: Event, raw: Any, number: float | None
    ) -> None:
        """A rule whose series the lane does not hold (yet): started, or judged on the engine's general path."""

    def lane_failed(self, out: list[Transition], quick: QuickRule, event: Event, exc: Exception) -> None:
        """A rule that raised: recorded and repaired as the reference does."""


def step_lane(
    host: LaneHost, lane: Lane, event: Event, raw: Any, number: float | None, seconds: float, out: list[Transition]
) -> None:
    """The lane's rules on `event` in order (`raw`, `number`: the sample; `seconds`: the event time's timestamp)."""
    at, key = event.time, lane.key
    plain = type(raw) is float or type(raw) is int
    held_true, held_false = (event, raw, True, None), (event, raw, False, None)
    lazy_true, lazy_false = (event, LAZY, True, None), (event, LAZY, False, None)
    for quick, series in lane.entries:
        if series is None:
            host.lane_general(out, quick, lane, event, raw, number)
            continue
        if number is None:
            continue  # not taken: no series moves
        try:
            window = series.window
            newest = series.newest
            if window is None:
                if not plain:
                    moved = series.take_quick(quick, key, event, raw, number, seconds)
                    if moved:
                        out += moved
                    continue
                if newest is not None and at < newest:
                    continue  # older than the newest raw value: refused
                when = at
                result = quick.test(raw, quick.threshold)
                sample = held_true if result is True else held_false
            else:
                result = window.take(seconds, number, quick.aggregation, quick.test, quick.threshold)  # type: ignore[attr-defined, arg-type]
                if result is None:
                    continue  # more than one window length late: refused
                when = newest if newest is not None and newest > at else at
                sample = lazy_true if result is True else lazy_false
            if newest is None or when > newest:
                series.newest = when
            episode = series.episode
            if episode is None:
                if result is False and series.phase == "inactive":
                    series._sample = sample
                    continue
            elif result is True and not episode.no_data and series.phase == "firing":
                series._sample = series._episode_sample = sample
                episode.count += 1
                if when > episode.last_seen:
                    episode.last_seen = when
                continue
            moved = series.settle(quick, key, when, sample)
        except Exception as exc:
            host.lane_failed(out, quick, event, exc)
            continue
        if moved:
            out += moved
