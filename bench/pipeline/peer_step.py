"""The peer's step: every rule of one metric over one series (metric, host), as a Bytewax user writes it.

A `stateful_map` keyed by (metric, host) calls `step(state, sample)`. The state is one deque of
(event time, value) holding the longest window's samples, a running sum and count per window length, and
a firing flag per rule of the metric. Each window holds the samples of (T - length, T], as the product's
does. The step returns the transitions it made: (rule index, host, "fired" | "resolved", event time).

`bare_loop` runs the same step in a plain Python loop over a dict of states: the CPU limit of this code.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.pipeline.reference import Speed
from bench.pipeline.workload import RuleShape, Workload, sample_of

Flip = tuple[int, str, str, float]  # (rule index, host, kind, event time in seconds)


@dataclass(frozen=True)
class MetricRules:
    """The rules of one metric: plain thresholds, and per window length the thresholds of its averages."""

    plain: tuple[tuple[int, float], ...]  # (rule index, threshold)
    lengths: tuple[float, ...]  # window lengths in seconds, each once
    windowed: tuple[tuple[int, int, float], ...]  # (rule index, position in `lengths`, threshold)


def by_metric(shapes: Sequence[RuleShape]) -> dict[str, MetricRules]:
    """The workload's rules grouped by the metric they read (what the peer's step needs per key)."""
    plain: dict[str, list[tuple[int, float]]] = {}
    windowed: dict[str, list[tuple[int, float, float]]] = {}
    for index, shape in enumerate(shapes):
        if shape.window_seconds is None:
            plain.setdefault(shape.metric, []).append((index, shape.threshold))
        else:
            windowed.setdefault(shape.metric, []).append((index, shape.window_seconds, shape.threshold))
    out = {}
    for metric in plain.keys() | windowed.keys():
        lengths = tuple(sorted({length for _, length, _ in windowed.get(metric, ())}))
        out[metric] = MetricRules(
            tuple(plain.get(metric, ())),
            lengths,
            tuple((index, lengths.index(length), limit) for index, length, limit in windowed.get(metric, ())),
        )
    return out


@dataclass
class SeriesState:
    """One (metric, host): the samples of its longest window, a sum and count per length, who is firing."""

    samples: deque[tuple[float, float]] = field(default_factory=deque)
    sums: list[float] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    firing: set[int] = field(default_factory=set)


def step(
    rules: MetricRules, state: SeriesState | None, host: str, at: float, value: float
) -> tuple[SeriesState, list[Flip]]:
    """Fold one sample into the series; the transitions of the metric's rules it caused."""
    if state is None:
        state = SeriesState(sums=[0.0] * len(rules.lengths), counts=[0] * len(rules.lengths))
    flips: list[Flip] = []
    firing = state.firing
    for index, threshold in rules.plain:
        _judge(flips, firing, index, value > threshold, host, at)
    if rules.lengths:
        samples, sums, counts = state.samples, state.sums, state.counts
        samples.append((at, value))
        held = len(samples)
        for position, length in enumerate(rules.lengths):
            total, count = sums[position] + value, counts[position] + 1
            while samples[held - count][0] <= at - length:  # the oldest sample in this window has left it
                total -= samples[held - count][1]
                count -= 1
            sums[position], counts[position] = total, count
        while len(samples) > counts[-1]:  # the longest window is the last: older samples serve none
            samples.popleft()
        for index, position, threshold in rules.windowed:
            _judge(flips, firing, index, sums[position] / counts[position] > threshold, host, at)
    return state, flips


def _judge(flips: list[Flip], firing: set[int], index: int, now: bool, host: str, at: float) -> None:
    if now != (index in firing):
        if now:
            firing.add(index)
        else:
            firing.discard(index)
        flips.append((index, host, "fired" if now else "resolved", at))


def bare_loop(workload: Workload, payloads: Sequence[dict[str, Any]]) -> tuple[list[Flip], Speed]:
    """The peer's step in a plain loop, one core: its transitions and speed."""
    rules = by_metric(workload.rules())
    states: dict[tuple[str, str], SeriesState] = {}
    flips: list[Flip] = []
    started = time.perf_counter()
    for payload in payloads:
        metric, host, at, value = sample_of(workload, payload)
        mine = rules.get(metric)
        if mine is not None:
            states[(metric, host)], made = step(mine, states.get((metric, host)), host, at, value)
            flips += made
    return flips, Speed(len(payloads), time.perf_counter() - started)
