"""Runs of quick rules that read one metric under one group_by, judged per event with one key and one sample.

A `QuickGroup` is a run of consecutive candidates (in the reference's order) whose rules `take_quick` serves and
that share the metric path and the group_by. Per event the group computes the group key and the sample once; a
`Lane` holds, per group key, the group's series this engine owns, looked up once and reused until the engine's
series change (`epoch`). Rules whose series does not exist yet, or is not a `FastThresholdSeries`, are left to the
engine's general path (entries without a series).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from services.common.domain.evaluation.compiled.fast_thresholds import FastThresholdSeries, QuickRule
from services.common.domain.events.model import Event
from services.common.domain.lifecycle.episodes import CompiledRule, group_key_for
from services.common.domain.lifecycle.transitions import group_key_of
from services.common.domain.windows.measures import sample_of

KeyOf = Callable[[Mapping[str, Any]], str]
SampleOf = Callable[[Event], tuple[Any, float | None]]


@dataclass(slots=True, eq=False)
class Lane:
    """One group key of a group: (rule, its series or None) for each rule whose series this engine owns."""

    key: str
    epoch: int
    entries: list[tuple[QuickRule, FastThresholdSeries | None]]
    evaluations: int  # the entries with a series: each counts one evaluation per event
    rule_ids: tuple[str, ...]

    def hold(self, quick: QuickRule, series: FastThresholdSeries) -> None:
        """`quick`'s series from now on, just started and stored: the entry `_lane` would build for it now."""
        for position, (held, _) in enumerate(self.entries):
            if held is quick:
                self.entries[position] = (quick, series)
                self.evaluations += 1
                self.rule_ids += (quick.plan.rule_id,)
                return


@dataclass(eq=False)
class QuickGroup:
    """Consecutive quick rules with one metric path and one group_by, and their lanes by group key."""

    rules: tuple[QuickRule, ...]
    path: str
    key_of: KeyOf
    sample_of: SampleOf
    lanes: dict[str, Lane] = field(default_factory=dict)


def key_function(plan: CompiledRule) -> KeyOf:
    """`group_key_for(plan, payload)` as a function of the payload, quicker for group_by paths without dots."""
    names = plan.group_by
    if any("." in name for name in names):
        return lambda payload: group_key_for(plan, payload)
    if len(names) == 1:
        (name,) = names

        def one(payload: Mapping[str, Any]) -> str:
            value = payload.get(name, "")
            if type(value) is str:
                return f"{name}={value}"
            return group_key_of([name], [value])

        return one
    return lambda payload: group_key_of(list(names), [payload.get(name, "") for name in names])


def sample_function(path: str) -> SampleOf:
    """`sample_of(path, event)[:2]` as a function of the event, quicker for a float at a path without dots."""

    def sample(event: Event) -> tuple[Any, float | None]:
        raw = event.payload.get(path)
        if type(raw) is float and math.isfinite(raw):
            return raw, raw
        return sample_of(path, event)[:2]

    return sample if "." not in path else lambda event: sample_of(path, event)[:2]


def groups_of(steps: list[tuple[str, QuickRule | None]]) -> tuple[tuple[str, QuickRule | None] | QuickGroup, ...]:
    """The steps with each run of quick rules sharing path and group_by made one `QuickGroup`."""
    out: list[tuple[str, QuickRule | None] | QuickGroup] = []
    run: list[QuickRule] = []

    def close() -> None:
        if run:
            first = run[0]
            out.append(QuickGroup(tuple(run), first.path, key_function(first.plan), sample_function(first.path)))
            run.clear()

    for rule_id, quick in steps:
        if quick is None:
            close()
            out.append((rule_id, None))
            continue
        if run and (run[0].path != quick.path or run[0].plan.group_by != quick.plan.group_by):
            close()
        run.append(quick)
    close()
    return tuple(out)
