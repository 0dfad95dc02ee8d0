"""Label matchers as request bodies write them, read into domain matchers with every problem named by its field.

A matcher is either amtool's text (`"alertname=~db.*"`, `'team!="ops"'`) or an object: `{"name", "type", "value"}`
with `type` one of `=`, `!=`, `=~`, `!~` (default `=`), or Alertmanager's `{"name", "value", "isRegex", "isEqual"}`.
A regex that does not compile is reported at `<field>.<index>.value`; a text matcher at `<field>.<index>`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from services.common.domain.labels.label_set import is_valid_name
from services.common.domain.labels.matchers import Matcher, MatchType
from services.common.domain.labels.parse import MatcherSyntaxError, parse_matcher
from services.common.domain.rules.errors import FieldError

Loc = tuple[str | int, ...]
_TYPES = {kind.value for kind in MatchType}


class MatcherIn(BaseModel):
    """One matcher as an object (a string in amtool's syntax is accepted too)."""

    name: str = Field(description="a label name: `[a-zA-Z_][a-zA-Z0-9_]*`")
    type: Literal["=", "!=", "=~", "!~"] = Field(default="=", description="regexes (RE2) match the whole value")
    value: str


def matcher_json(matcher: Matcher) -> dict[str, str]:
    """The stored and returned form of a matcher."""
    return {"name": matcher.name, "type": matcher.type.value, "value": matcher.value}


def stored_matchers(raw: Sequence[Any]) -> tuple[Matcher, ...]:
    """Matchers from their stored form (written by `matcher_json`, so valid)."""
    return tuple(Matcher(name=m["name"], type=MatchType(m["type"]), value=m["value"]) for m in raw)


def read_matchers(raw: Any, loc: Loc, errors: list[FieldError], *, required: bool = True) -> tuple[Matcher, ...]:
    """The matchers of a list at `loc`; problems are appended to `errors` (the result then lacks the bad ones)."""
    if raw is None and not required:
        return ()
    if not isinstance(raw, list):
        errors.append(FieldError(loc, "a list of matchers"))
        return ()
    if required and not raw:
        errors.append(FieldError(loc, "at least one matcher required"))
    out: list[Matcher] = []
    for index, item in enumerate(raw):
        matcher = read_matcher(item, (*loc, index), errors)
        if matcher is not None:
            out.append(matcher)
    return tuple(out)


def read_matcher(item: Any, loc: Loc, errors: list[FieldError]) -> Matcher | None:
    """One matcher (text or object), or None with its problem appended to `errors`."""
    if isinstance(item, str):
        try:
            return parse_matcher(item)
        except MatcherSyntaxError as exc:
            errors.append(FieldError(loc, str(exc)))
            return None
    if not isinstance(item, dict):
        errors.append(FieldError(loc, 'a matcher: an object {"name", "type", "value"} or text like `team="db"`'))
        return None
    kind = _kind(item, loc, errors)
    name, value = item.get("name"), item.get("value")
    before = len(errors)
    if not isinstance(name, str) or not is_valid_name(name):
        errors.append(FieldError((*loc, "name"), "a label name: [a-zA-Z_][a-zA-Z0-9_]*"))
    if not isinstance(value, str):
        errors.append(FieldError((*loc, "value"), "a string"))
    if kind is None or len(errors) > before:
        return None
    try:
        return Matcher(name=str(name), type=kind, value=str(value))
    except (ValidationError, ValueError) as exc:
        errors.append(FieldError((*loc, "value"), _first_message(exc)))
        return None


def _kind(item: dict[str, Any], loc: Loc, errors: list[FieldError]) -> MatchType | None:
    if "isRegex" in item or "isEqual" in item:
        regex, equal = item.get("isRegex", False), item.get("isEqual", True)
        for key, flag in (("isRegex", regex), ("isEqual", equal)):
            if not isinstance(flag, bool):
                errors.append(FieldError((*loc, key), "a boolean"))
                return None
        positive = MatchType.REGEX if regex else MatchType.EQUAL
        negative = MatchType.NOT_REGEX if regex else MatchType.NOT_EQUAL
        return positive if equal else negative
    kind = item.get("type", "=")
    if not isinstance(kind, str) or kind not in _TYPES:
        errors.append(FieldError((*loc, "type"), "one of =, !=, =~, !~"))
        return None
    return MatchType(kind)


def _first_message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        message = str(exc.errors()[0]["msg"])
        return message.removeprefix("Value error, ")
    return str(exc)
