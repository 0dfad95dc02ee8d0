"""A pattern compiled for matching: its positive steps in order, the negated step after each, the correlation key.

A step accepts an event when the event type is the step's and its conditions are True (three-valued logic of
conditions/tree.py: unknown does not accept). `refusal` says why a step does not accept an event, for traces.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from services.common.domain.conditions.tree import evaluate, truth
from services.common.domain.lifecycle.transitions import group_key_of
from services.common.domain.patterns.spec import PatternStep, PatternTrigger
from services.common.domain.rules.paths import MISSING, lookup


@dataclass(frozen=True)
class StepTest:
    """One step as a test on events: its name, event type, conditions and count."""

    step: PatternStep

    @property
    def name(self) -> str:
        return self.step.name

    @property
    def min(self) -> int:
        return self.step.count.min

    @property
    def max(self) -> int | None:
        return self.step.count.max

    def accepts(self, event_type: str | None, payload: Mapping[str, Any]) -> bool:
        if event_type != self.step.event_type:
            return False
        return self.step.conditions is None or truth(self.step.conditions, payload) is True

    def refusal(self, event_type: str | None, payload: Mapping[str, Any]) -> str | None:
        """None when the step accepts the event, else the reason it does not."""
        if event_type != self.step.event_type:
            return f"{self.name} wants {self.step.event_type!r}, not {event_type!r}"
        if self.step.conditions is None:
            return None
        explanation = evaluate(self.step.conditions, payload, path=f"{self.name}.conditions")
        if explanation.result is True:
            return None
        errors = explanation.errors()
        verdict = "unknown" if explanation.result is None else "false"
        return f"{self.name}: conditions are {verdict}" + (f" ({'; '.join(errors)})" if errors else "")


@dataclass(frozen=True)
class PatternPlan:
    """The trigger split for the matcher: positive steps, and `negations[i]` the negated step after positive i."""

    trigger: PatternTrigger
    positives: tuple[StepTest, ...]
    negations: tuple[StepTest | None, ...]
    within: timedelta
    event_types: frozenset[str]

    @property
    def trailing(self) -> StepTest | None:
        """The negated step after the last positive one (the match then fires at its deadline)."""
        return self.negations[-1]

    def key_of(self, payload: Mapping[str, Any]) -> str | None:
        """The correlation key (a group key, `user=ann`), or None when a `same` path is missing from the payload."""
        names = list(self.trigger.same or [])
        values = [lookup(payload, name) for name in names]
        if any(value is MISSING for value in values):
            return None
        return group_key_of(names, values)


def plan_of(trigger: PatternTrigger) -> PatternPlan:
    """Compile a validated trigger (the first step is positive, negated steps never adjoin)."""
    positives: list[StepTest] = []
    negations: list[StepTest | None] = []
    for step in trigger.steps:
        if step.negate:
            negations[-1] = StepTest(step)
        else:
            positives.append(StepTest(step))
            negations.append(None)
    return PatternPlan(
        trigger=trigger,
        positives=tuple(positives),
        negations=tuple(negations),
        within=timedelta(seconds=trigger.within_seconds),
        event_types=frozenset(step.event_type for step in trigger.steps),
    )
