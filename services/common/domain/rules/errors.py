"""Validation errors that name the offending field path, shared by every edge that parses rules.

The display-name check that rule, channel and polling-target bodies share is here too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError

NAME_MAX = 200
_FIELD_TAG = re.compile(r"^\[(\w+)\] (.*)$", re.S)


@dataclass(frozen=True)
class FieldError:
    """One invalid field: its path (`("trigger_spec", "threshold")`) and a human message."""

    loc: tuple[str | int, ...]
    msg: str

    @property
    def path(self) -> str:
        """The dotted path (`trigger_spec.threshold`, `conditions.conditions.0.op`)."""
        return ".".join(str(part) for part in self.loc)

    def as_dict(self) -> dict[str, object]:
        return {"loc": list(self.loc), "msg": self.msg}


@dataclass
class RuleValidationError(Exception):
    """A rule body that cannot be accepted; `errors` names every offending field."""

    errors: list[FieldError] = field(default_factory=list)

    def __str__(self) -> str:
        return "; ".join(f"{e.path}: {e.msg}" for e in self.errors) or "invalid rule"


def display_name(value: object, errors: list[FieldError], limit: int = NAME_MAX) -> str:
    """The stripped `name` of a body; a missing, empty or unprintable one is added to `errors`."""
    if not isinstance(value, str) or not value.strip():
        errors.append(FieldError(("name",), "required: a non-empty string"))
        return ""
    if len(value) > limit or any(ord(c) < 32 for c in value):
        errors.append(FieldError(("name",), f"at most {limit} printable characters"))
    return value.strip()


def from_pydantic(exc: ValidationError, prefix: Sequence[str | int] = ()) -> list[FieldError]:
    """Convert a pydantic ValidationError into FieldErrors, dropping union-branch noise from locations."""
    out: list[FieldError] = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = tuple(part for part in err["loc"] if not _is_branch_tag(part))
        if err["type"] == "extra_forbidden" and err["loc"] and loc[-1:] != err["loc"][-1:]:
            loc = (*loc, err["loc"][-1])  # an unknown key is the client's word, whatever it looks like
        msg = err["msg"].removeprefix("Value error, ")
        if msg.startswith("Input should be a valid dictionary or instance of"):
            msg = "Input should be an object"  # not the name of one of our classes
        tagged = _FIELD_TAG.match(msg)
        if tagged:  # a model-level check that names its field: `[window] required when ...`
            loc, msg = (*loc, tagged.group(1)), tagged.group(2)
        out.append(FieldError(loc=(*prefix, *loc), msg=msg))
    return out


def _is_branch_tag(part: str | int) -> bool:
    # pydantic names the union member it tried ("ConditionGroup", "function-after[...]"): not a field.
    return isinstance(part, str) and (part[:1].isupper() or "[" in part or part in _UNION_TAGS)


_UNION_TAGS = frozenset({"group", "leaf"})  # the tags of the condition-node union in model.py
