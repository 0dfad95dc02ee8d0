"""Wire models of the inhibit-rule routes: the body read into a canonical spec, and the JSON views.

A rule's body is `{"source_matchers": [...], "target_matchers": [...], "equal": [...], "description"}`: matchers
as objects or amtool text (schemas/matchers.py), at least one on each side; `equal` lists label names. The
canonical spec stores matchers as objects; `to_domain` makes the domain `InhibitRule` of it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.common.db.tables import InhibitRuleRow, InhibitRuleVersionRow
from services.common.domain.inhibition.inhibit_rules import InhibitRule
from services.common.domain.labels.label_set import is_valid_name
from services.common.domain.rules.errors import FieldError
from services.gateway.rest.problems import invalid
from services.gateway.row_codec import rfc3339
from services.gateway.schemas.matchers import MatcherIn, matcher_json, read_matchers, stored_matchers

_FIELDS = {"source_matchers", "target_matchers", "equal", "description", "version"}


class InhibitRuleBody(BaseModel):
    """A create or replace body."""

    model_config = ConfigDict(extra="forbid")

    source_matchers: list[MatcherIn | str] = Field(description="the alerts that inhibit")
    target_matchers: list[MatcherIn | str] = Field(description="the alerts they inhibit")
    equal: list[str] = Field(default_factory=list, description="labels whose values must be the same on both")
    description: str | None = Field(default=None, max_length=2000)
    version: int | None = Field(default=None, description="replace only: the version read (409 when stale)")


class StoredInhibitRule(BaseModel):
    rule_id: str
    tenant: str
    source_matchers: list[MatcherIn]
    target_matchers: list[MatcherIn]
    equal: list[str]
    description: str | None
    version: int
    created_at: str
    updated_at: str


class InhibitRuleList(BaseModel):
    items: list[StoredInhibitRule]
    total: int
    next_cursor: str | None


def parse_inhibit_rule(data: Any) -> dict[str, Any]:
    """A body into the canonical spec; a 422 naming every bad field (`source_matchers.0.value`, `equal.1`)."""
    if not isinstance(data, dict):
        raise invalid([FieldError((), "the body must be a JSON object")])
    errors = [FieldError((key,), "unknown field") for key in data if key not in _FIELDS]
    source = read_matchers(data.get("source_matchers"), ("source_matchers",), errors)
    target = read_matchers(data.get("target_matchers"), ("target_matchers",), errors)
    equal = data.get("equal") or []
    if not isinstance(equal, list):
        errors.append(FieldError(("equal",), "a list of label names"))
        equal = []
    for index, name in enumerate(equal):
        if not isinstance(name, str) or not is_valid_name(name):
            errors.append(FieldError(("equal", index), "a label name: [a-zA-Z_][a-zA-Z0-9_]*"))
    description = data.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > 2000):
        errors.append(FieldError(("description",), "a string of at most 2000 characters"))
    if errors:
        raise invalid(errors)
    return {
        "source_matchers": [matcher_json(m) for m in source],
        "target_matchers": [matcher_json(m) for m in target],
        "equal": list(equal),
        "description": description,
    }


def to_domain(spec: dict[str, Any]) -> InhibitRule:
    """The domain rule of a canonical spec."""
    return InhibitRule(
        source=stored_matchers(spec["source_matchers"]),
        target=stored_matchers(spec["target_matchers"]),
        equal=tuple(spec.get("equal") or ()),
    )


def inhibit_rule_json(row: InhibitRuleRow) -> dict[str, Any]:
    """The API view of an inhibit rule."""
    return {
        "rule_id": row.rule_id,
        "tenant": row.tenant,
        **row.spec,
        "version": row.version,
        "created_at": rfc3339(row.created_at),
        "updated_at": rfc3339(row.updated_at),
    }


def inhibit_version_json(row: InhibitRuleVersionRow) -> dict[str, Any]:
    """One version of an inhibit rule: the spec as it was, the change, who made it and when."""
    return {
        "version": row.version,
        "change": row.change,
        "rule": {"rule_id": row.rule_id, **row.spec},
        "actor": row.actor_name,
        "at": rfc3339(row.at),
    }


def config_form(spec: dict[str, Any]) -> dict[str, Any]:
    """The rule as Alertmanager's configuration writes it (`source_matchers` as matcher text)."""
    rule = to_domain(spec)
    form: dict[str, Any] = {
        "source_matchers": [str(m) for m in rule.source],
        "target_matchers": [str(m) for m in rule.target],
    }
    if rule.equal:
        form["equal"] = list(rule.equal)
    return form
