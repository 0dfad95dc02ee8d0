"""The rule model of the API contract: the rule itself, and `parse_rule` naming the field path.

The condition tree is in condition_nodes.py, the triggers in triggers.py, the actions and suppression in
actions.py, the shared field types in field_types.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import Field, ValidationError, model_validator

from services.common.domain.labels.rule_labels import LabelName
from services.common.domain.patterns.spec import PatternTrigger, parse_pattern
from services.common.domain.rules.actions import DAILY_REPORT, Action, Suppression
from services.common.domain.rules.condition_nodes import (  # noqa: F401  (re-exported: the rule model's names)
    ConditionGroup,
    ConditionLeaf,
    ConditionNode,
    ConditionOp,
)
from services.common.domain.rules.errors import FieldError, RuleValidationError, from_pydantic
from services.common.domain.rules.field_types import Frozen, field_error
from services.common.domain.rules.triggers import TRIGGER_MODELS, TriggerSpec, TriggerType, placeholder_trigger

Priority: TypeAlias = Literal["P1", "P2", "P3", "P4", "P5"]
Severity: TypeAlias = Literal["critical", "high", "medium", "low", "info"]

HANDOVER_FIELDS: tuple[str, ...] = ("purpose", "deactivation_criterion", "runbook", "rollback")
HandoverNote = Annotated[str, Field(max_length=20_000)]


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
                trigger_spec = _parse_trigger(spec_model, trigger_spec, context)
            except ValidationError as exc:
                errors.extend(from_pydantic(exc, prefix=("trigger_spec",)))
            except RuleValidationError as exc:  # a pattern names its cross-step problems itself
                errors.extend(exc.errors)
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


def _parse_trigger(model: type[Frozen], data: Mapping[str, Any], context: dict[str, Any] | None) -> Frozen:
    if model is PatternTrigger:
        return parse_pattern(data, client_input=context is not None)
    return model.model_validate(dict(data), context=context)


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
