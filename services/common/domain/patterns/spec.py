"""The `pattern` trigger of the contract: ordered steps, `within`, `same`, contiguity and skip, with their limits.

`parse_pattern` validates a client's `trigger_spec` and names every offending field by its full path
(`trigger_spec.steps.1.times.min`), as `parse_rule` does for the other trigger types. The checks that span
several steps (unique names, where a negated step may stand) are in `pattern_problems`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from services.common.domain.rules.condition_nodes import ConditionNode
from services.common.domain.rules.durations import parse_duration
from services.common.domain.rules.errors import FieldError, RuleValidationError, from_pydantic
from services.common.domain.rules.field_types import Duration, Frozen, GroupBy

# Limits. Each bounds the work a pattern costs per event (steps, repetitions) or the state it holds (within).
MAX_STEPS = 10
MAX_TIMES = 100  # `times.min` and `times.max`; a larger count is a window aggregation, not a pattern
MAX_WITHIN_SECONDS = 7 * 86400.0  # partial matches live at most this long, so no key holds them for ever

Contiguity: TypeAlias = Literal["relaxed", "strict", "any"]
Skip: TypeAlias = Literal["past_last", "to_next"]
StepName = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")]

_DEFER = "defer_pattern_checks"  # validation context key: parse_pattern reports the cross-step checks itself
_NESTED_TAG = re.compile(r"^\[([\w.]+)\] (.*)$", re.S)


class Times(Frozen):
    """How many events a step takes: `min` up to `max` (null: no upper bound)."""

    min: Annotated[int, Field(ge=1, le=MAX_TIMES)] = 1
    max: Annotated[int, Field(ge=1, le=MAX_TIMES)] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Times:
        if self.max is not None and self.max < self.min:
            raise ValueError(f"[max] must be at least min ({self.min})")
        return self


ONCE = Times(min=1, max=1)


class PatternStep(Frozen):
    """One step: an event type, optional conditions on its payload, a count, or `negate` (must not occur)."""

    name: StepName
    event_type: Annotated[str, Field(min_length=1, max_length=200)]
    conditions: ConditionNode | None = None
    times: Times | None = None
    negate: bool = False

    @property
    def count(self) -> Times:
        """The step's count: `times` when given, else exactly once."""
        return self.times if self.times is not None else ONCE


class PatternTrigger(Frozen):
    """`{"steps": [...], "within": "2m", "same": ["user"], "contiguity": "relaxed", "skip": "past_last"}`."""

    steps: Annotated[list[PatternStep], Field(min_length=1, max_length=MAX_STEPS)]
    within: Duration
    same: GroupBy | None = None
    contiguity: Contiguity = "relaxed"
    skip: Skip = "past_last"

    @field_validator("within")
    @classmethod
    def _bounded(cls, value: str) -> str:
        seconds = parse_duration(value)
        if seconds <= 0:
            raise ValueError("must be longer than 0s")
        if seconds > MAX_WITHIN_SECONDS:
            raise ValueError(f"must be at most 7d ({MAX_WITHIN_SECONDS:g}s)")
        return value

    @model_validator(mode="after")
    def _steps_fit_together(self, info: ValidationInfo) -> PatternTrigger:
        if isinstance(info.context, Mapping) and info.context.get(_DEFER):
            return self
        problems = pattern_problems(self)
        if problems:
            first = problems[0]
            raise ValueError(f"[{first.path}] {first.msg}")
        return self

    @property
    def within_seconds(self) -> float:
        return parse_duration(self.within)


def pattern_problems(trigger: PatternTrigger) -> list[FieldError]:
    """Every cross-step problem, each at its field's path relative to the trigger (`steps.2.negate`)."""
    problems: list[FieldError] = []
    seen: set[str] = set()
    for i, step in enumerate(trigger.steps):
        if step.name in seen:
            problems.append(FieldError(("steps", i, "name"), f"step names are unique in a rule: {step.name!r} repeats"))
        seen.add(step.name)
        if not step.negate:
            continue
        if i == 0:
            problems.append(FieldError(("steps", 0, "negate"), "the first step cannot be negated: a match starts"))
        elif trigger.steps[i - 1].negate:
            problems.append(FieldError(("steps", i, "negate"), "two negated steps cannot follow each other"))
        if step.times is not None:
            problems.append(FieldError(("steps", i, "times"), "a negated step has no count: any one event cancels"))
        if 0 < i < len(trigger.steps) - 1 and trigger.contiguity == "strict":
            problems.append(
                FieldError(
                    ("steps", i, "negate"),
                    "under strict contiguity the neighbouring steps are adjacent, so a negated step between them "
                    "could never apply: use relaxed or any contiguity",
                )
            )
    return problems


def parse_pattern(
    data: Any, prefix: Sequence[str | int] = ("trigger_spec",), *, client_input: bool = True
) -> PatternTrigger:
    """Validate a pattern `trigger_spec`; raise RuleValidationError naming every bad field under `prefix`.

    `client_input=False` reads a stored rule: a regex saved before the RE2 check still loads (see ConditionLeaf).
    """
    if not isinstance(data, Mapping):
        raise RuleValidationError([FieldError(tuple(prefix), "trigger_spec is an object")])
    try:
        trigger = PatternTrigger.model_validate(dict(data), context={"client_input": client_input, _DEFER: True})
    except ValidationError as exc:
        raise RuleValidationError([_untag(e) for e in from_pydantic(exc, prefix=prefix)]) from None
    problems = pattern_problems(trigger)
    if problems:
        raise RuleValidationError([FieldError((*prefix, *p.loc), p.msg) for p in problems])
    return trigger


def _untag(error: FieldError) -> FieldError:
    """Move a nested tag (`[steps.1.name] ...`, from a model-level check) into the error's path."""
    tagged = _NESTED_TAG.match(error.msg)
    if tagged is None:
        return error
    loc = tuple(int(part) if part.isdigit() else part for part in tagged.group(1).split("."))
    return FieldError((*error.loc, *loc), tagged.group(2))
