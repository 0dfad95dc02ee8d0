"""A brute-force pattern oracle, written from docs/patterns.md and importing nothing from the matcher.

It enumerates every candidate assignment of the key's events to the positive steps, keeps those the stated
constraints allow (step tests, counts, `within`, contiguity between consecutive matched events, negation
between and after steps), gives each the moment it completes (its last event, or the first input past its
negation deadline) and then applies the skip strategy over the moments in order. Slow on purpose: it checks
each constraint pairwise over the whole stream instead of advancing states.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import TypeAdapter

from services.common.domain.conditions.tree import truth
from services.common.domain.lifecycle.transitions import group_key_of
from services.common.domain.rules.model import ConditionNode
from services.common.domain.rules.paths import MISSING, lookup

_NODE: TypeAdapter[ConditionNode] = TypeAdapter(ConditionNode)
Outcome = tuple[str, int, tuple[tuple[int, ...], ...]]  # (key, moment, event seqs per positive step)


@dataclass(frozen=True)
class Ev:
    """One input event: its sequence number among events, its input index (moment), type, payload, time."""

    seq: int
    index: int
    kind: str
    payload: Mapping[str, Any]
    time: datetime


@dataclass(frozen=True)
class Step:
    name: str
    kind: str
    condition: Any
    low: int
    high: int | None

    def test(self, ev: Ev) -> bool:
        return ev.kind == self.kind and (self.condition is None or truth(self.condition, ev.payload) is True)


def _steps(spec: Mapping[str, Any]) -> tuple[list[Step], dict[int, Step]]:
    """Positive steps in order and, by positive index, the negated step right after each."""
    positive: list[Step] = []
    negated: dict[int, Step] = {}
    for raw in spec["steps"]:
        times = raw.get("times") or {}
        low = times.get("min", 1) if raw.get("times") else 1
        high = times.get("max") if raw.get("times") else 1
        cond = None if raw.get("conditions") is None else _NODE.validate_python(raw["conditions"])
        step = Step(raw["name"], raw["event_type"], cond, low, high)
        if raw.get("negate"):
            negated[len(positive) - 1] = step
        else:
            positive.append(step)
    return positive, negated


def _seconds(text: str) -> float:
    number, unit = re.fullmatch(r"(\d+)(ms|s|m|h|d)", text).groups()  # type: ignore[union-attr]
    return int(number) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}[unit]


def run_oracle(spec: Mapping[str, Any], items: list[tuple[Any, ...]], final: datetime) -> list[Outcome]:
    """The matches a stream of items yields: ("event", type, payload, time) or ("tick", time) items."""
    positive, negated = _steps(spec)
    within = timedelta(seconds=_seconds(spec["within"]))
    same = list(spec.get("same") or [])
    kinds = {s.kind for s in positive} | {s.kind for s in negated.values()}
    events, streams = [], {}  # type: ignore[var-annotated]
    for index, item in enumerate(items):
        if item[0] != "event":
            continue
        ev = Ev(len(events), index, item[1], item[2], item[3])
        events.append(ev)
        values = [lookup(ev.payload, path) for path in same]
        if ev.kind in kinds and MISSING not in values:
            streams.setdefault(group_key_of(same, values), []).append(ev)
    out: list[Outcome] = []
    for key, stream in streams.items():
        found = []
        for chain in _chains(stream, positive, negated, within, spec.get("contiguity", "relaxed")):
            moment = _moment(chain, stream, items, negated.get(len(positive) - 1), within, final)
            if moment is not None:
                found.append((moment, chain))
        out.extend((key, moment, _by_step(chain, stream, len(positive))) for moment, chain in _skip(found, spec))
    return sorted(out)


def _chains(
    stream: list[Ev], positive: list[Step], negated: dict[int, Step], within: timedelta, contiguity: str
) -> Iterator[list[tuple[int, int, int]]]:
    """Every valid assignment as [(index in stream, positive step, count in step), ...]."""
    last_step = len(positive) - 1

    def could_take(x: int, i: int, c: int, z: int) -> bool:
        here = positive[i]
        if (here.high is None or c < here.high) and here.test(stream[z]):
            return True
        if i == last_step or c < here.low or not positive[i + 1].test(stream[z]):
            return False
        return not _negated_between(stream, negated.get(i), x, z)

    def extend(chain: list[tuple[int, int, int]]) -> Iterator[list[tuple[int, int, int]]]:
        x, i, c = chain[-1]
        if i == last_step and c == positive[i].low:
            yield chain
            return
        for y in range(x + 1, len(stream)):
            if stream[y].time - stream[chain[0][0]].time > within:
                break
            if contiguity == "strict" and y != x + 1:
                break
            if contiguity == "relaxed" and any(could_take(x, i, c, z) for z in range(x + 1, y)):
                break
            high = positive[i].high
            if (high is None or c < high) and positive[i].test(stream[y]):
                yield from extend([*chain, (y, i, c + 1)])
            may_go_on = i < last_step and c >= positive[i].low and positive[i + 1].test(stream[y])
            if may_go_on and not _negated_between(stream, negated.get(i), x, y):
                yield from extend([*chain, (y, i + 1, 1)])

    for start in range(len(stream)):
        if positive[0].test(stream[start]):
            yield from extend([(start, 0, 1)])


def _negated_between(stream: list[Ev], step: Step | None, x: int, y: int) -> bool:
    return step is not None and any(step.test(stream[z]) for z in range(x + 1, y))


def _moment(
    chain: list[tuple[int, int, int]],
    stream: list[Ev],
    items: list[tuple[Any, ...]],
    trailing: Step | None,
    within: timedelta,
    final: datetime,
) -> int | None:
    """The input index at which the match is reported; None when it never is (cancelled or still waiting)."""
    last = stream[chain[-1][0]]
    if trailing is None:
        return last.index
    deadline = stream[chain[0][0]].time + within
    if any(trailing.test(z) and z.time <= deadline for z in stream[chain[-1][0] + 1 :]):
        return None
    for index, item in enumerate(items):
        if item[-1] > deadline:
            return index
    return len(items) if final > deadline else None


def _skip(found: list[tuple[int, list[tuple[int, int, int]]]], spec: Mapping[str, Any]) -> list[Any]:
    """Apply the skip strategy: candidates in (moment, first time, positions) order, each kept if allowed."""
    ordered = sorted(found, key=lambda f: (f[0], [p for p, _, _ in f[1]]))
    emitted: list[Any] = []
    last_consumed, used_firsts = -1, set()
    for moment, chain in ordered:
        first, last = chain[0][0], chain[-1][0]
        if spec.get("skip", "past_last") == "past_last":
            if first > last_consumed:
                emitted.append((moment, chain))
                last_consumed = last
        elif first not in used_firsts:
            emitted.append((moment, chain))
            used_firsts.add(first)
    return emitted


def _by_step(chain: list[tuple[int, int, int]], stream: list[Ev], steps: int) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(stream[position].seq for position, i, _ in chain if i == s) for s in range(steps))
