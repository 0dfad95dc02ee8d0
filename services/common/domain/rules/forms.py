"""The UI's form body turned into a canonical rule body, and the preview of what it would store.

The gateway answers POST /cep/rules/preview with `preview(form)` and POST /cep/rules/form with
`parse_rule(form_to_body(form))`; both go through `form_to_body`, so they agree on the stored fields.

Coercions (everything else is left as sent, for `parse_rule` to accept or name):
- An empty (or blank) string is an untouched input: the key is dropped ("not set"), at every level.
- `active` and `notify_resolved`: `true/false`, `on/off`, `yes/no`, `1/0` strings become booleans.
- `min_baseline` and `storm_budget`: integral strings become ints. Thresholds are coerced by `parse_rule`.
- `group_by`: a comma-separated string becomes a list.
- Condition values: numeric strings become numbers for ordering ops (for `==`/`!=` a string stays a
  string: the UI sends JSON numbers when it means numbers); for `in`/`not_in` a JSON list (`["a", 1]`) is
  parsed, otherwise a comma-separated string is split (numeric items become numbers); `exists` takes a
  boolean string.
- `conditions` items are leaves `{"field","op","value"}` or groups `{"logic","conditions"}`. A condition
  row with neither field nor value is an untouched row and is dropped. The items are wrapped in a
  group of the top-level `logic` (default AND; NOT wraps exactly one item); no items -> `conditions: null`.
- Unknown top-level keys are errors (a typo must not vanish silently); `preview` reports them and still
  shows the rule the other keys make.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from services.common.domain.notify.templates import check
from services.common.domain.rules.durations import parse_duration
from services.common.domain.rules.errors import FieldError, RuleValidationError
from services.common.domain.rules.model import HANDOVER_FIELDS, ConditionLeaf, ConditionNode, RuleSpec, parse_rule
from services.common.domain.rules.summary import summarize
from services.common.domain.rules.triggers import AnomalyTrigger, EventTrigger, MetricTrigger

# The contract's form keys, plus `suppression` (the canonical object, passed through).
FORM_FIELDS = frozenset(
    [
        "name",
        "description",
        "active",
        "owner",
        "backup_owner",
        "priority",
        "severity",
        "trigger_type",
        "trigger",
        "logic",
        "conditions",
        "actions",
        "suppression",
        *HANDOVER_FIELDS,
    ]
)
_TRUE = frozenset({"true", "on", "yes", "1"})
_FALSE = frozenset({"false", "off", "no", "0"})
_BOOLEAN_FIELDS = frozenset({"active", "notify_resolved", "starttls"})
_INTEGER_FIELDS = frozenset({"min_baseline", "storm_budget"})
_LIST_FIELDS = frozenset({"group_by"})
_ORDERING_OPS = frozenset({">", ">=", "<", "<="})
_CHANNEL_TYPES = frozenset({"notify", "webhook", "api_call", "slack", "email", "pagerduty"})
_INTERNAL_EVENTS = frozenset({"cep.schedule", "cep.notification.failed", "cep.ack.sla_breached"})
MIN_BASELINE_ADVICE = 10
_NUMBER = re.compile(r"^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$")  # unambiguous: linear on long digit runs


@dataclass(frozen=True)
class PreviewResult:
    """What the rule would be: canonical JSON (None when invalid), summary, warnings and field errors."""

    rule: dict[str, Any] | None
    summary: str
    warnings: list[str] = field(default_factory=list)
    errors: list[FieldError] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        """True when POST /cep/rules/form would accept the same body."""
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        """The JSON answer of POST /cep/rules/preview."""
        return {
            "rule": self.rule,
            "summary": self.summary,
            "warnings": list(self.warnings),
            "errors": [e.as_dict() for e in self.errors],
        }


def form_to_body(form: Mapping[str, Any]) -> dict[str, Any]:
    """Convert a form body into a create body; raise RuleValidationError for unknown keys or a non-object."""
    body, errors = _convert(form)
    if errors:
        raise RuleValidationError(errors)
    return body


def preview(form: Mapping[str, Any]) -> PreviewResult:
    """Validate a form without storing it: the canonical rule, its summary, warnings and every field error."""
    body, errors = _convert(form)
    try:
        spec = parse_rule(body)
    except RuleValidationError as exc:
        return PreviewResult(rule=None, summary="", errors=[*errors, *exc.errors])
    return PreviewResult(rule=spec.canonical(), summary=summarize(spec), warnings=warnings_for(spec), errors=errors)


def _convert(form: Any) -> tuple[dict[str, Any], list[FieldError]]:
    if not isinstance(form, Mapping):
        return {}, [FieldError((), "a form body is a JSON object")]
    errors = [FieldError((key,), "unknown form field") for key in form if key not in FORM_FIELDS]
    fields = {k: v for k, v in form.items() if k in FORM_FIELDS and not _unset(v)}
    body: dict[str, Any] = {}
    for key in (
        "name",
        "description",
        "active",
        "owner",
        "backup_owner",
        "priority",
        "severity",
        "trigger_type",
        *HANDOVER_FIELDS,
    ):
        if key in fields:
            body[key] = _coerce_field(key, fields[key])
    if "trigger" in fields:
        body["trigger_spec"] = _clean(fields["trigger"])
    body["conditions"] = _root_conditions(fields.get("logic", "AND"), fields.get("conditions"))
    if "actions" in fields:
        actions = fields["actions"]
        body["action_spec"] = (
            [_clean(a) for a in actions if not _untouched(a)] if isinstance(actions, list) else actions
        )
    if "suppression" in fields:
        body["suppression"] = _clean(fields["suppression"])
    return body, errors


def _root_conditions(logic: Any, items: Any) -> Any:
    if isinstance(items, Mapping):  # a ready-made tree
        return _node(items)
    if not isinstance(items, list):
        return items  # parse_rule names it
    nodes = [_node(item) for item in items if not _untouched(item)]
    nodes = [node for node in nodes if node is not None]
    if not nodes:
        return None
    return {"logic": logic.upper() if isinstance(logic, str) else logic, "conditions": nodes}


def _node(item: Any) -> Any:
    """One condition item: a group (converted recursively; None when it ends up empty) or a leaf."""
    if not isinstance(item, Mapping):
        return item
    if "logic" in item:
        group = _clean(item)
        logic, children = group.get("logic", "AND"), group.get("conditions")
        if isinstance(children, list):
            children = [_node(c) for c in children if not _untouched(c)]
            children = [c for c in children if c is not None]
            if not children:
                return None
        return {**group, "logic": logic.upper() if isinstance(logic, str) else logic, "conditions": children}
    return _leaf(_clean(item))


def _leaf(leaf: dict[str, Any]) -> dict[str, Any]:
    op, value = leaf.get("op"), leaf.get("value")
    if isinstance(value, str):
        if isinstance(op, str) and op in _ORDERING_OPS and _NUMBER.match(value.strip()):
            leaf["value"] = _number(value.strip())
        elif op in ("in", "not_in"):
            leaf["value"] = _list_value(value)
        elif op == "exists":
            leaf["value"] = _boolean(value)
    return leaf


def _list_value(text: str) -> Any:
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            return json.loads(stripped)
        except ValueError:
            return text  # not a list: parse_rule says "'in' needs a list of values"
    items = [item.strip() for item in stripped.split(",")]
    return [_number(item) if _NUMBER.match(item) else item for item in items if item]


def _clean(data: Any) -> Any:
    """Drop unset values and coerce the known boolean, integer and list fields of a form section."""
    if not isinstance(data, Mapping):
        return data
    return {key: _coerce_field(key, value) for key, value in data.items() if not _unset(value)}


def _coerce_field(key: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if key in _BOOLEAN_FIELDS:
        return _boolean(value)
    if key in _INTEGER_FIELDS and re.fullmatch(r"\s*[-+]?\d+(\.0*)?\s*", value):
        return int(float(value))
    if key in _LIST_FIELDS:
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _boolean(text: str) -> Any:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    return text  # parse_rule names the field


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)


def _unset(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _untouched(item: Any) -> bool:
    """A form row left empty: every value blank (a leaf with neither field nor value, an action without type)."""
    return isinstance(item, Mapping) and all(_unset(v) for k, v in item.items() if k not in ("op", "logic"))


def warnings_for(spec: RuleSpec) -> list[str]:
    """What is valid but probably not meant: each warning names the field and the consequence."""
    found = _action_warnings(spec) + _owner_warnings(spec) + _trigger_warnings(spec)
    if spec.conditions is not None:
        found += _condition_warnings(spec.conditions, "conditions")
    suppression = spec.suppression
    grouping = suppression is not None and (suppression.group_by or suppression.group_wait)
    if suppression is not None and not grouping and (suppression.group_interval or suppression.repeat_interval):
        found.append(
            "suppression: group_interval and repeat_interval apply to grouped notifications; "
            "set group_by or group_wait to group them"
        )
    return found


def _action_warnings(spec: RuleSpec) -> list[str]:
    if not spec.action_spec:
        return ["no actions: the rule will fire but notify nobody"]
    found = []
    for i, action in enumerate(spec.action_spec):
        extra = action.model_extra or {}
        if action.type in _CHANNEL_TYPES and not action.channel and not extra.get("url"):
            found.append(f"action_spec.{i}.channel: a '{action.type}' action without a channel delivers nowhere")
        problem = check(action.message) if action.message is not None else None
        if problem is not None:
            found.append(f"action_spec.{i}.message: template error: {problem}")
    return found


def _owner_warnings(spec: RuleSpec) -> list[str]:
    if spec.priority != "P1":
        return []
    return [
        f"{name}: a P1 rule needs an owner and a backup owner (team rule 3)"
        for name in ("owner", "backup_owner")
        if not getattr(spec, name)
    ]


def _trigger_warnings(spec: RuleSpec) -> list[str]:
    trigger = spec.trigger_spec
    found = []
    if isinstance(trigger, MetricTrigger):
        if trigger.duration and trigger.window and parse_duration(trigger.duration) < parse_duration(trigger.window):
            found.append(
                f"trigger_spec.duration: {trigger.duration} is shorter than the {trigger.window} window: "
                "the alert can fire on a partly filled window"
            )
        if trigger.recover_threshold is not None and _recovers_wrong_side(trigger):
            found.append(
                f"trigger_spec.recover_threshold: {trigger.recover_threshold} does not leave the firing range "
                f"'{trigger.operator} {trigger.threshold}': the alert cannot resolve by value"
            )
    if isinstance(trigger, AnomalyTrigger) and trigger.min_baseline < MIN_BASELINE_ADVICE:
        found.append(
            f"trigger_spec.min_baseline: {trigger.min_baseline} samples is a thin baseline "
            f"(below {MIN_BASELINE_ADVICE}): expect false positives"
        )
    if (
        isinstance(trigger, EventTrigger)
        and trigger.event_type.startswith("cep.")
        and (trigger.event_type not in _INTERNAL_EVENTS)
    ):
        found.append(f"trigger_spec.event_type: '{trigger.event_type}' is not an internal event type; it never occurs")
    return found


def _recovers_wrong_side(trigger: MetricTrigger) -> bool:
    recover, threshold = trigger.recover_threshold, trigger.threshold
    if trigger.operator in (">", ">="):
        return bool(recover > threshold)
    if trigger.operator in ("<", "<="):
        return bool(recover < threshold)
    return False


def _condition_warnings(node: ConditionNode, path: str) -> list[str]:
    if isinstance(node, ConditionLeaf):
        if node.op in ("==", "!=") and node.value is None:
            return [f"{path}.value: '{node.field} {node.op} null' compares with null; was the value left empty?"]
        return []
    found = []
    for i, child in enumerate(node.conditions):
        found += _condition_warnings(child, f"{path}.conditions.{i}")
    return found
