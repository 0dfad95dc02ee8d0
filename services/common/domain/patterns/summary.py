"""The one-line summary of a pattern: `login.failed x5+ then login.succeeded within 2m, same user`.

A step reads as its event type, its count when not exactly one (`x5`, `x5+`, `x2..4`) and its conditions in
parentheses, in the texts of rules/summary.py; a negated step reads `not <step>`. Contiguity and skip are shown
only when they are not the defaults (relaxed, past_last).
"""

from __future__ import annotations

from services.common.domain.patterns.spec import PatternStep, PatternTrigger
from services.common.domain.rules.summary import condition_text


def summarize_pattern(trigger: PatternTrigger) -> str:
    """The whole pattern in one line."""
    text = " then ".join(_step(step) for step in trigger.steps) + f" within {trigger.within}"
    if trigger.same:
        text += f", same {', '.join(trigger.same)}"
    if trigger.contiguity != "relaxed":
        text += f", {trigger.contiguity} contiguity"
    if trigger.skip != "past_last":
        text += ", overlapping (skip to next)"
    return text


def _step(step: PatternStep) -> str:
    text = step.event_type + _count(step)
    if step.conditions is not None:
        text += f" ({condition_text(step.conditions)})"
    return f"not {text}" if step.negate else text


def _count(step: PatternStep) -> str:
    low, high = step.count.min, step.count.max
    if low == high:
        return "" if low == 1 else f" x{low}"
    if high is None:
        return f" x{low}+"
    return f" x{low}..{high}"
