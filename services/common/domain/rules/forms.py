"""The UI's form body turned into a canonical rule body, and the preview of what it would store.

The gateway answers POST /cep/rules/preview with `preview(form)` and POST /cep/rules/form with
`parse_rule(form_to_body(form))`; both go through `form_to_body`, so they agree on the stored fields.

Coercions (everything else is left as sent, for `parse_rule` to accept or name):
- An empty (or blank) string is an untouched input: the key is dropped ("not set"), at every level.
- `active` and `notify_resolved`: `true/false`, `on/off`, `yes/no`, `1/0` strings become booleans.
- `min_baseline` and `storm_budget`: integral strings become ints. Thresholds are coerced by `parse_rule`.
- `group_by` and `same`: a comma-separated string becomes a list.
- A pattern trigger's `steps` are rows: an untouched row is dropped; `negate` takes a boolean string, `times.min`
  and `times.max` integral strings (a blank `max` is no bound); a step's `conditions` are rows as the rule's (wrapped
  in the step's `logic`, default AND).
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

from services.common.domain.rules.errors import FieldError, RuleValidationError
from services.common.domain.rules.model import HANDOVER_FIELDS, parse_rule
from services.common.domain.rules.rule_warnings import warnings_for
from services.common.domain.rules.summary import summarize

# The form keys that go into the rule body as they are (coerced); the others are converted section by section.
_PLAIN_FIELDS = (
    "name",
    "description",
    "active",
    "owner",
    "backup_owner",
    "priority",
    "severity",
    "trigger_type",
    *HANDOVER_FIELDS,
)
# The contract's form keys, plus `suppression` (the canonical object, passed through).
# `labels` and `annotations` come as an object or as the editor's rows, `[{"name", "value"}, ...]`.
_NAMED_FIELDS = ("labels", "annotations")
FORM_FIELDS = frozenset([*_PLAIN_FIELDS, "trigger", "logic", "conditions", "actions", "suppression", *_NAMED_FIELDS])
_TRUE = frozenset({"true", "on", "yes", "1"})
_FALSE = frozenset({"false", "off", "no", "0"})
_BOOLEAN_FIELDS = frozenset({"active", "notify_resolved", "starttls", "negate"})
_INTEGER_FIELDS = frozenset({"min_baseline", "storm_budget", "min", "max"})
_LIST_FIELDS = frozenset({"group_by", "same"})
_ORDERING_OPS = frozenset({">", ">=", "<", "<="})
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
    for key in _PLAIN_FIELDS:
        if key in fields:
            body[key] = _coerce_field(key, fields[key])
    if "trigger" in fields:
        body["trigger_spec"] = _trigger(fields["trigger"])
    body["conditions"] = _root_conditions(fields.get("logic", "AND"), fields.get("conditions"))
    if "actions" in fields:
        actions = fields["actions"]
        body["action_spec"] = (
            [_clean(a) for a in actions if not _untouched(a)] if isinstance(actions, list) else actions
        )
    if "suppression" in fields:
        body["suppression"] = _clean(fields["suppression"])
    for key in _NAMED_FIELDS:
        if key in fields:
            body[key] = _named(fields[key])
    return body, errors


def _trigger(trigger: Any) -> Any:
    """The trigger section; a pattern's `steps` rows converted one by one (the rest as any section)."""
    cleaned = _clean(trigger)
    steps = cleaned.get("steps") if isinstance(cleaned, dict) else None
    if isinstance(steps, list):
        cleaned["steps"] = [_step(step) for step in steps if not _untouched(step)]
    return cleaned


def _step(step: Any) -> Any:
    if not isinstance(step, Mapping):
        return step
    row = _clean({k: v for k, v in step.items() if k not in ("conditions", "logic")})
    if isinstance(row.get("times"), Mapping):
        row["times"] = _clean(row["times"])
    conditions = _root_conditions(step.get("logic", "AND"), step.get("conditions"))
    if conditions is not None:
        row["conditions"] = conditions
    return row


def _named(value: Any) -> Any:
    """Key/value rows as an object (rows with a blank name and value dropped); anything else for parse_rule."""
    if not isinstance(value, list) or not all(isinstance(row, Mapping) for row in value):
        return value
    rows = [row for row in value if not _untouched(row)]
    return {
        str(row.get("name") or "").strip(): row.get("value") if row.get("value") is not None else "" for row in rows
    }


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
