"""The rule model of the API contract: conditions, the rule itself, and `parse_rule` naming the field path.

The triggers are in triggers.py, the actions and suppression in actions.py, the shared field types in
field_types.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import Discriminator, Field, Tag, ValidationError, ValidationInfo, field_validator, model_validator

from services.common.domain.conditions.regex import pattern_problem
from services.common.domain.labels.rule_labels import LabelName
from services.common.domain.rules.actions import DAILY_REPORT, Action, Suppression
from services.common.domain.rules.errors import FieldError, RuleValidationError, from_pydantic
from services.common.domain.rules.field_types import FieldPath, Frozen, field_error, from_client
from services.common.domain.rules.triggers import TRIGGER_MODELS, TriggerSpec, TriggerType, placeholder_trigger

ConditionOp: TypeAlias = Literal["==", "!=", ">", ">=", "<", "<=", "in", "not_in", "contains", "regex", "exists"]
Priority: TypeAlias = Literal["P1", "P2", "P3", "P4", "P5"]
Severity: TypeAlias = Literal["critical", "high", "medium", "low", "info"]

HANDOVER_FIELDS: tuple[str, ...] = ("purpose", "deactivation_criterion", "runbook", "rollback")
HandoverNote = Annotated[str, Field(max_length=20_000)]


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


class RuleSpec(Frozen):
    """What a client writes: everything but the server-assigned fields."""

    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: str | None = None
    active: bool = False
    owner: str | None = None
    backup_owner: str | None = None
    priority: Priority = "P3"
    severity: Severity = "medium"
    trigger_type: TriggerType
    trigger_spec: TriggerSpec
    conditions: ConditionNode | None = None
    action_spec: list[Action] = Field(default_factory=list)
    suppression: Suppression | None = None
    # Handover notes (user guide sections 18-20); left out of the canonical JSON while unset.
    purpose: HandoverNote | None = None
    deactivation_criterion: HandoverNote | None = None
    runbook: HandoverNote | None = None
    rollback: HandoverNote | None = None
    # Alertmanager's labels (every event of the rule carries them) and annotations (templates rendered when an
    # event fires); names and limits in services/common/domain/labels/rule_labels.py.
    labels: dict[LabelName, str] = Field(default_factory=dict)
    annotations: dict[LabelName, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _trigger_fits_type(self) -> RuleSpec:
        if not isinstance(self.trigger_spec, TRIGGER_MODELS[self.trigger_type]):
            raise field_error("trigger_spec", f"is not a {self.trigger_type} trigger")
        if self.trigger_type != "schedule" and any(a.type == DAILY_REPORT for a in self.action_spec):
            raise field_error("action_spec", "a daily_report action runs on a schedule rule only")
        return self

    def canonical(self) -> dict[str, Any]:
        """The canonical JSON of the writable fields (defaults filled, unset optional trigger fields dropped)."""
        data = self.model_dump(mode="json", exclude={"trigger_spec", "conditions", "action_spec", "suppression"})
        for name in HANDOVER_FIELDS:
            if data[name] is None:
                del data[name]
        data["trigger_spec"] = self.trigger_spec.model_dump(mode="json", exclude_none=True)
        data["conditions"] = (
            None if self.conditions is None else self.conditions.model_dump(mode="json", exclude_none=False)
        )
        data["action_spec"] = [a.model_dump(mode="json", exclude_none=True) for a in self.action_spec]
        data["suppression"] = (
            None if self.suppression is None else self.suppression.model_dump(mode="json", exclude_none=True)
        )
        return data


class Rule(RuleSpec):
    """A stored rule: the spec plus identity, tenant, version and timestamps."""

    rule_id: str
    tenant: str
    version: int
    created_at: datetime
    updated_at: datetime

    @property
    def spec(self) -> RuleSpec:
        return RuleSpec.model_validate(self.model_dump(include=set(RuleSpec.model_fields)))

    def canonical(self) -> dict[str, Any]:
        data = super().canonical()
        return {
            "rule_id": self.rule_id,
            "tenant": self.tenant,
            **data,
            "version": self.version,
            "created_at": _rfc3339(self.created_at),
            "updated_at": _rfc3339(self.updated_at),
        }


SERVER_FIELDS = frozenset(
    {"rule_id", "tenant", "version", "created_at", "updated_at", "error_count", "last_error", "last_error_at"}
)


def parse_rule(data: Any, *, stored: bool = False) -> RuleSpec:
    """Validate a create/replace body into a RuleSpec; raise RuleValidationError naming every bad field.

    Server-assigned fields (`rule_id`, `version`, ...) are ignored so a client may send back what it read.
    `trigger_spec` is validated against the model of `trigger_type`, so errors read `trigger_spec.threshold`.
    `stored=True` reads a rule saved earlier: a regex pattern is not refused for RE2 syntax (see ConditionLeaf).
    """
    context = None if stored else {"client_input": True}
    if not isinstance(data, Mapping):
        raise RuleValidationError([FieldError((), "a rule is a JSON object")])
    body = {k: v for k, v in data.items() if k not in SERVER_FIELDS}
    errors: list[FieldError] = []
    trigger_type = body.get("trigger_type")
    spec_model = TRIGGER_MODELS.get(trigger_type) if isinstance(trigger_type, str) else None
    trigger_spec: Any = body.get("trigger_spec")
    checked = spec_model is not None and "trigger_spec" in body  # trigger_spec errors are reported from here
    if spec_model is None and "trigger_spec" in body:
        body["trigger_spec"] = placeholder_trigger("metric")  # without a valid type, only trigger_type is reported
    if checked and spec_model is not None:
        if not isinstance(trigger_spec, Mapping):
            errors.append(FieldError(("trigger_spec",), "trigger_spec is an object"))
        else:
            try:
                trigger_spec = spec_model.model_validate(dict(trigger_spec), context=context)
            except ValidationError as exc:
                errors.extend(from_pydantic(exc, prefix=("trigger_spec",)))
    try:
        # Validate the rest with a placeholder trigger when it failed, so every other error is reported too.
        rest = dict(body)
        if isinstance(trigger_spec, Frozen):
            rest["trigger_spec"] = trigger_spec
        elif checked:
            rest["trigger_spec"] = placeholder_trigger(str(trigger_type))
        spec = RuleSpec.model_validate(rest, context=context)
    except ValidationError as exc:
        errors.extend(e for e in from_pydantic(exc) if not (checked and e.loc[:1] == ("trigger_spec",)))
        raise RuleValidationError(_dedupe(errors)) from None
    if errors:
        raise RuleValidationError(_dedupe(errors))
    return spec


def _dedupe(errors: list[FieldError]) -> list[FieldError]:
    seen: set[tuple[tuple[str | int, ...], str]] = set()
    out = []
    for err in errors:
        if (err.loc, err.msg) not in seen:
            seen.add((err.loc, err.msg))
            out.append(err)
    return out


def _rfc3339(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
