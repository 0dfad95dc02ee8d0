"""The rules a test file runs: pack rule bodies validated by `parse_rule`, a pattern rule read by the patterns package.

A pattern rule (`trigger_type: pattern`) runs on the rule engine once the rule model accepts it. Until then it is
validated here (its other fields with `parse_rule`, its trigger with `parse_pattern`) and run on the pattern
matcher directly, so test files can be written for pattern rules today.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.common.domain.patterns.spec import PatternTrigger, parse_pattern
from services.common.domain.rules.model import Rule, RuleSpec, parse_rule

TENANT = "rule-tests"


@dataclass(frozen=True)
class TestedRule:
    """One rule under test: its name, and either a rule for the engine or a pattern for the matcher."""

    __test__ = False  # not a pytest class

    name: str
    rule: Rule
    pattern: PatternTrigger | None  # set for every pattern rule (the trace is built from it)


def tested_rule(item: Any, at: datetime) -> TestedRule:
    """A rule body of a pack, validated; RuleValidationError naming its fields otherwise.

    The rule runs as if active (as simulate runs a draft): a test checks what the rule does, not its switch.
    """
    return of_spec(parse_rule(item), at)


def of_spec(spec: RuleSpec, at: datetime) -> TestedRule:
    """A validated rule spec (such as a pack's, from `load_pack`) as a tested rule."""
    fields = {name: getattr(spec, name) for name in RuleSpec.model_fields}
    rule = Rule.model_validate(
        {**fields, "active": True, "rule_id": spec.name, "tenant": TENANT, "version": 1}
        | {"created_at": at, "updated_at": at}
    )
    pattern = None
    if spec.trigger_type == "pattern":
        pattern = parse_pattern(spec.canonical()["trigger_spec"])
    return TestedRule(spec.name, rule, pattern)
