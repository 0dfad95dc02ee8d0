"""A rule pack as code: the YAML file of a tenant's rules, and the plan that turns the gateway's rules into it.

Pure (no I/O): `load_pack` validates a pack with the same `parse_rule` the gateway runs, `export_pack` writes the
canonical form (no ids, versions or timestamps; stable order), `plan` compares by name, field by field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from services.common.domain.rules.errors import RuleValidationError
from services.common.domain.rules.model import HANDOVER_FIELDS, RuleSpec, parse_rule

# The order fields are written in: identity, routing, what runs, then the handover notes.
FIELD_ORDER: tuple[str, ...] = (
    "name",
    "description",
    "active",
    "priority",
    "severity",
    "owner",
    "backup_owner",
    "trigger_type",
    "trigger_spec",
    "conditions",
    "action_spec",
    "suppression",
    "labels",
    "annotations",
    *HANDOVER_FIELDS,
)
_EMPTY_LEFT_OUT = frozenset({"labels", "annotations"})  # `{}` is their default: a pack without them is the same
PACK_KEYS = frozenset({"rules"})
Step = Literal["create", "update", "unchanged"]


class PackError(ValueError):
    """A pack that cannot be applied; the message names the rule and the field."""


@dataclass(frozen=True)
class Change:
    """What applying the pack does to one rule: `fields` maps a dotted path to (before, after) for an update."""

    step: Step
    name: str
    spec: RuleSpec
    rule_id: str | None = None
    version: int | None = None
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)


def pack_form(canonical: Mapping[str, Any]) -> dict[str, Any]:
    """A rule as the pack writes it: the canonical fields in FIELD_ORDER, unset (null, or empty labels) left out."""
    return {
        key: canonical[key]
        for key in FIELD_ORDER
        if canonical.get(key) is not None and not (key in _EMPTY_LEFT_OUT and not canonical[key])
    }


def stored_spec(rule: Mapping[str, Any]) -> RuleSpec:
    """The writable part of a rule as the gateway returns it (server fields and list extras such as
    `firing_count` left out)."""
    return parse_rule({key: value for key, value in rule.items() if key in RuleSpec.model_fields}, stored=True)


def export_pack(rules: Sequence[Mapping[str, Any]]) -> str:
    """The YAML pack of rules as the gateway returns them, sorted by name."""
    forms = [pack_form(stored_spec(rule).canonical()) for rule in sorted(rules, key=lambda r: str(r.get("name")))]
    header = "# A CEP rule pack (the canonical rule form). Apply it with: cep rules apply -f FILE\n"
    return header + yaml.dump({"rules": forms}, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)


def load_pack(text: str) -> list[RuleSpec]:
    """The rules of a pack, validated; PackError naming `rules[i].field` (or the YAML line) otherwise."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PackError(f"not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise PackError("a rule pack is a mapping with a `rules` list")
    unknown = sorted(str(key) for key in data if key not in PACK_KEYS)
    if unknown:
        raise PackError(f"unknown top-level key(s): {', '.join(unknown)} (a pack has `rules`)")
    specs: list[RuleSpec] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(data["rules"]):
        try:
            spec = parse_rule(item)
        except RuleValidationError as exc:
            label = item.get("name") if isinstance(item, dict) else None
            where = f"rules[{index}]" + (f" ({label})" if label else "")
            problems.extend(f"{where}.{e.path or '(rule)'}: {e.msg}" for e in exc.errors)
            continue
        if spec.name in seen:
            problems.append(f"rules[{index}].name: {spec.name!r} is already rules[{seen[spec.name]}]")
        seen.setdefault(spec.name, index)
        specs.append(spec)
    if problems:
        raise PackError("\n".join(problems))
    return specs


def plan(pack: Sequence[RuleSpec], current: Sequence[Mapping[str, Any]]) -> list[Change]:
    """Per pack rule, in pack order: create it, update it (with the changed fields), or leave it unchanged."""
    by_name = {str(rule["name"]): rule for rule in current}
    changes = []
    for spec in pack:
        stored = by_name.get(spec.name)
        if stored is None:
            changes.append(Change("create", spec.name, spec))
            continue
        before = stored_spec(stored).canonical()
        fields = field_diff(before, spec.canonical())
        step: Step = "update" if fields else "unchanged"
        changes.append(Change(step, spec.name, spec, str(stored["rule_id"]), int(stored["version"]), fields))
    return changes


def field_diff(before: Mapping[str, Any], after: Mapping[str, Any], prefix: str = "") -> dict[str, tuple[Any, Any]]:
    """Changed fields by dotted path; objects are compared key by key, lists and scalars whole."""
    found: dict[str, tuple[Any, Any]] = {}
    for key in sorted(set(before) | set(after), key=_field_rank):
        old, new = before.get(key), after.get(key)
        path = f"{prefix}{key}"
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            found.update(field_diff(old, new, f"{path}."))
        elif old != new or type(old) is not type(new):
            found[path] = (old, new)
    return found


def describe(changes: Sequence[Change], untouched: int = 0) -> str:
    """The plan as people read it: `+ create`, `~ update` with one line per field, `= unchanged`, then a count."""
    marks = {"create": "+", "update": "~", "unchanged": "="}
    lines = []
    for change in changes:
        lines.append(f"{marks[change.step]} {change.step:<9} {change.name}")
        for path, (old, new) in change.fields.items():
            lines.append(f"      {path}: {_short(old)} -> {_short(new)}")
    lines.append(summary(changes, untouched))
    return "\n".join(lines)


def summary(changes: Sequence[Change], untouched: int = 0) -> str:
    """`2 to create, 1 to update, 2 unchanged` (and the gateway's rules the pack does not name, left alone)."""
    counts = {step: sum(c.step == step for c in changes) for step in ("create", "update", "unchanged")}
    text = f"{counts['create']} to create, {counts['update']} to update, {counts['unchanged']} unchanged"
    if untouched:
        text += f"; {untouched} rule(s) of the tenant not in the pack are left alone"
    return text


def _short(value: Any) -> str:
    text = "(unset)" if value is None else yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    text = text.removesuffix("\n...").strip()
    return text if len(text) <= 100 else text[:97] + "..."


def _field_rank(key: str) -> tuple[int, str]:
    return (FIELD_ORDER.index(key), key) if key in FIELD_ORDER else (len(FIELD_ORDER), key)


class _Dumper(yaml.SafeDumper):
    """Multi-line notes (runbooks) as literal blocks, so the pack reads like the text it holds."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)
