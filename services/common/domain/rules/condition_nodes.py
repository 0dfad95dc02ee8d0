"""The condition tree of a rule: leaves (`{"field", "op", "value"}`) and groups (`AND`, `OR`, `NOT`).

Its own module so that the triggers (a pattern's steps carry conditions) and the rule model can both use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import Discriminator, Tag, ValidationInfo, field_validator, model_validator

from services.common.domain.conditions.regex import pattern_problem
from services.common.domain.rules.field_types import FieldPath, Frozen, field_error, from_client

ConditionOp: TypeAlias = Literal["==", "!=", ">", ">=", "<", "<=", "in", "not_in", "contains", "regex", "exists"]


class ConditionLeaf(Frozen):
    """`{"field": "severity", "op": "==", "value": "critical"}`.

    A `regex` pattern is checked against RE2 syntax and the caps of conditions/regex.py only for a client's rule
    (`parse_rule`, validation context `{"client_input": True}`). A rule read back from storage or the rule
    bucket keeps a pattern saved before RE2: it loads, and its condition evaluates to an error naming the
    problem until edited.
    """

    field: FieldPath
    op: ConditionOp
    value: Any = None

    @model_validator(mode="after")
    def _value_fits_op(self, info: ValidationInfo) -> ConditionLeaf:
        if self.op in ("in", "not_in") and not isinstance(self.value, list):
            raise field_error("value", f"'{self.op}' needs a list of values")
        if self.op in (">", ">=", "<", "<=") and (
            isinstance(self.value, bool) or not isinstance(self.value, int | float | str)
        ):
            raise field_error("value", f"'{self.op}' needs a number or a string")
        if self.op == "regex":
            if not isinstance(self.value, str):
                raise field_error("value", "'regex' needs a pattern string")
            problem = pattern_problem(self.value) if from_client(info) else None
            if problem is not None:
                raise field_error("value", problem)
        if self.op == "exists" and self.value is not None and not isinstance(self.value, bool):
            raise field_error("value", "'exists' takes true, false or nothing")
        if self.op not in ("exists",) and self.value is None and self.op not in ("==", "!="):
            raise field_error("value", f"'{self.op}' needs a value")
        return self


class ConditionGroup(Frozen):
    """`{"logic": "AND"|"OR", "conditions": [...]}` or `{"logic": "NOT", "conditions": [node]}`."""

    logic: Literal["AND", "OR", "NOT"]
    conditions: list[ConditionNode]

    @field_validator("conditions", mode="before")
    @classmethod
    def _is_list(cls, value: Any) -> Any:
        if not isinstance(value, list):
            raise ValueError("conditions is a list of condition nodes")
        return value

    @model_validator(mode="after")
    def _arity(self) -> ConditionGroup:
        if self.logic == "NOT" and len(self.conditions) != 1:
            raise field_error("conditions", "NOT takes exactly one condition")
        if not self.conditions:
            raise field_error("conditions", f"{self.logic} needs at least one condition")
        return self


def _node_kind(value: Any) -> str:
    if isinstance(value, ConditionGroup) or (isinstance(value, Mapping) and "logic" in value):
        return "group"
    return "leaf"


ConditionNode: TypeAlias = Annotated[
    Annotated[ConditionGroup, Tag("group")] | Annotated[ConditionLeaf, Tag("leaf")],
    Discriminator(_node_kind),
]
ConditionGroup.model_rebuild()
