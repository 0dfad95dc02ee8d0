"""Label matchers with Alertmanager's semantics: `=`, `!=`, `=~`, `!~` on RE2, fully anchored.

A matcher compares one label's value; a label the set lacks reads as the empty string, so `team=""` and
`team!~".+"` match a set without `team`. A regex matches the whole value (`db` does not match `mysql-db`), as
Alertmanager compiles `^(?:pattern)$`. Patterns run on RE2 (Go's regexp speaks the same syntax) through the
project's capped wrapper; the two things RE2 accepts and Alertmanager 0.25's Go refuses (`\\C`, `(?<name>...)`)
are refused too, so what is stored here Alertmanager would store.

The v2 API carries a matcher as `{name, value, isRegex, isEqual}` (`isEqual` defaults to true);
`str()` prints the form amtool prints and parses (`name="value"` with `\\`, `\\n`, `\\"` escaped).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from services.common.domain.conditions.regex import TextRefused, compile_pattern, search
from services.common.domain.labels.label_set import LabelSet


class MatchType(StrEnum):
    """The four operators, spelled as in the matcher syntax."""

    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"

    @property
    def is_regex(self) -> bool:
        return self in (MatchType.REGEX, MatchType.NOT_REGEX)

    @property
    def is_equal(self) -> bool:
        """True for the positive operators (`=`, `=~`): the API's `isEqual`."""
        return self in (MatchType.EQUAL, MatchType.REGEX)


class Matcher(BaseModel):
    """One label matcher; a regex one is checked by RE2 when built, so a stored matcher always compiles."""

    model_config = ConfigDict(frozen=True)

    name: str
    type: MatchType
    value: str

    @model_validator(mode="after")
    def _check_pattern(self) -> Matcher:
        if self.type.is_regex:
            compile_pattern(anchored(self.value))  # PatternError (a ValueError) names the problem
            problem = go_problem(self.value)
            if problem is not None:
                raise ValueError(problem)
        return self

    def matches(self, value: str) -> bool:
        """Whether this matcher accepts a label value (the empty string for a missing label)."""
        if self.type is MatchType.EQUAL:
            return value == self.value
        if self.type is MatchType.NOT_EQUAL:
            return value != self.value
        return _regex_matches(self.value, value) == (self.type is MatchType.REGEX)

    def matches_labels(self, labels: LabelSet) -> bool:
        """Whether this matcher accepts the label set's value for its name."""
        return self.matches(labels.get(self.name, ""))

    def __str__(self) -> str:
        return f'{self.name}{self.type.value}"{escape(self.value)}"'


def anchored(pattern: str) -> str:
    """The pattern as Alertmanager compiles it: it must match the whole value."""
    return f"^(?:{pattern})$"


def escape(value: str) -> str:
    """OpenMetrics escaping of a matcher value: backslash, line feed and double quote."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def go_problem(pattern: str) -> str | None:
    """Why Go's regexp (Alertmanager 0.25) refuses a pattern RE2 accepts: `\\C` and `(?<name>...)` groups."""
    index, in_class = 0, False
    while index < len(pattern):
        if pattern[index] == "\\":
            if pattern[index + 1 : index + 2] == "C":
                return "\\C (any byte) is not supported (Alertmanager's regexp syntax)"
            index += 2
            continue
        if pattern[index] == "[" and not in_class:
            in_class = True
            index += 1
            index += pattern[index : index + 1] == "^"
            index += pattern[index : index + 1] == "]"  # a `]` first in a class is literal
            continue
        if pattern[index] == "]":
            in_class = False
        elif not in_class and pattern.startswith("(?<", index) and not pattern.startswith(("(?<=", "(?<!"), index):
            return "named groups are written (?P<name>...) (Alertmanager's regexp syntax)"
        index += 1
    return None


def matches_all(matchers: Iterable[Matcher], labels: LabelSet) -> bool:
    """Whether every matcher accepts the label set (an empty list accepts every set)."""
    return all(matcher.matches_labels(labels) for matcher in matchers)


def from_api(obj: Mapping[str, Any]) -> Matcher:
    """A matcher from the v2 API's `{name, value, isRegex, isEqual}` (`isEqual` absent means true)."""
    regex, equal = bool(obj.get("isRegex", False)), bool(obj.get("isEqual", True))
    kinds = {
        (False, True): MatchType.EQUAL,
        (False, False): MatchType.NOT_EQUAL,
        (True, True): MatchType.REGEX,
        (True, False): MatchType.NOT_REGEX,
    }
    return Matcher(name=str(obj["name"]), type=kinds[(regex, equal)], value=str(obj["value"]))


def to_api(matcher: Matcher) -> dict[str, Any]:
    """The v2 API's matcher object for a matcher."""
    return {
        "name": matcher.name,
        "value": matcher.value,
        "isRegex": matcher.type.is_regex,
        "isEqual": matcher.type.is_equal,
    }


def _regex_matches(pattern: str, value: str) -> bool:
    try:
        return search(anchored(pattern), value)
    except TextRefused:
        return False  # a value too long for this pattern's search budget is not matched
