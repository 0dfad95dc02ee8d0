"""The rule test file (docs/cli.md, "Rule unit tests"): rules, then cases of input events and series with expectations.

`parse_suite` validates the YAML data of a test file and names every offending field by its path
(`tests.0.input_series.1.values`, `rule_files.0`, `rules.2.trigger_spec.threshold`), as rule errors do. Reading the
rule files is the caller's: it passes a function from a path, as written in the file, to that file's YAML data.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationError, field_validator, model_validator

from services.common.domain.events.model import parse_time
from services.common.domain.rule_tests.series_notation import expand_values, parse_series
from services.common.domain.rule_tests.tested_rules import TestedRule, of_spec, tested_rule
from services.common.domain.rules.durations import parse_duration
from services.common.domain.rules.errors import FieldError, RuleValidationError, from_pydantic
from services.common.domain.rules.field_types import Frozen
from services.common.domain.rules.model import RuleSpec

DEFAULT_START = datetime(1970, 1, 1, tzinfo=UTC)


class SuiteError(ValueError):
    """A test file that cannot run; one `path: message` line per problem."""

    def __init__(self, problems: Sequence[FieldError]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(f"{p.path or '(file)'}: {p.msg}" for p in self.problems))


def _moment(value: Any) -> timedelta | datetime:
    """An offset from the case's start (`90s`, `2m`, a number of seconds) or an RFC 3339 time."""
    if isinstance(value, bool):
        raise ValueError("a time is an offset like '90s' or an RFC 3339 time")
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        raise ValueError("a time is an offset like '90s' or an RFC 3339 time")
    try:
        return timedelta(seconds=parse_duration(value))
    except ValueError:
        pass
    try:
        return parse_time(value)
    except ValueError:
        raise ValueError(f"{value!r} is neither an offset like '90s' nor an RFC 3339 time") from None


Moment = Annotated[timedelta | datetime, BeforeValidator(_moment)]


class InputEvent(Frozen):
    """An event of type `type` with `payload`, at `at`."""

    at: Moment
    type: Annotated[str, Field(min_length=1)] | None = None
    payload: dict[str, Any] = Field(default_factory=dict)


class InputSeries(Frozen):
    """`cpu_usage{host="a"}` sampled at every interval from the case's start: events `{metric, value, ...labels}`."""

    series: str
    values: str | int | float

    @field_validator("series")
    @classmethod
    def _readable_series(cls, value: str) -> str:
        parse_series(value)
        return value

    @field_validator("values")
    @classmethod
    def _readable_values(cls, value: str | int | float) -> str | int | float:
        expand_values(value)
        return value

    def samples(self) -> list[float | None]:
        return expand_values(self.values)

    def name_and_labels(self) -> tuple[str, dict[str, str]]:
        return parse_series(self.series)


class Expected(Frozen):
    """An event of `rule` (for a group key, or with these labels) in `status` at `at` (default: the case's end).

    `open`: fired and not resolved at `at`; `fired`: fired at or before `at`; `resolved`: resolved by `at`.
    """

    rule: Annotated[str, Field(min_length=1)]
    at: Moment | None = None
    group_key: str | None = None
    labels: dict[str, str] | None = None
    status: Literal["open", "fired", "resolved"] = "open"
    count: Annotated[int, Field(ge=1)] | None = None


class Absent(Frozen):
    """No event of `rule` (for a group key, or with these labels) has fired by `at` (`status: open`: none is open)."""

    rule: Annotated[str, Field(min_length=1)]
    at: Moment | None = None
    group_key: str | None = None
    labels: dict[str, str] | None = None
    status: Literal["fired", "open"] = "fired"


class Case(Frozen):
    """One test: inputs from `start`, series sampled every `interval`, then what must and must not have happened."""

    name: Annotated[str, Field(min_length=1)]
    start: Moment = DEFAULT_START
    interval: Annotated[timedelta, BeforeValidator(lambda v: timedelta(seconds=_positive_duration(v)))] = timedelta(
        minutes=1
    )
    input_events: list[InputEvent] = Field(default_factory=list)
    input_series: list[InputSeries] = Field(default_factory=list)
    expect: list[Expected] = Field(default_factory=list)
    expect_none: list[Absent] = Field(default_factory=list)

    @field_validator("start")
    @classmethod
    def _a_time(cls, value: timedelta | datetime) -> timedelta | datetime:
        if isinstance(value, timedelta):
            raise ValueError("start is an RFC 3339 time, like '2026-01-01T00:00:00Z'")
        return value

    @model_validator(mode="after")
    def _checks_something(self) -> Case:
        if not self.expect and not self.expect_none:
            raise ValueError("[expect] a test checks something: give `expect` or `expect_none` (or both)")
        return self

    def time_of(self, moment: timedelta | datetime) -> datetime:
        """An absolute time: an offset counts from `start`."""
        start = self.start
        assert isinstance(start, datetime)  # _a_time
        return start + moment if isinstance(moment, timedelta) else moment


class _SuiteFile(Frozen):
    rule_files: list[str] = Field(default_factory=list)
    rules: list[Any] = Field(default_factory=list)
    tests: Annotated[list[Any], Field(min_length=1)]  # each validated on its own, so every case's errors show


def _positive_duration(value: Any) -> float:
    seconds = parse_duration(value) if isinstance(value, str) else float(value)
    if seconds <= 0:
        raise ValueError("must be longer than 0s")
    return seconds


@dataclass(frozen=True)
class Suite:
    """A validated test file: the rules by name, and the cases."""

    rules: dict[str, TestedRule]
    cases: list[Case]


def parse_suite(
    data: Any,
    read_rule_file: Callable[[str], Any],
    extra: Sequence[RuleSpec] = (),
    now: datetime = DEFAULT_START,
) -> Suite:
    """Validate a test file's data; SuiteError naming every bad field.

    Rules come from `rule_files` (each a pack: a mapping with `rules`), then `rules` (inline bodies), then `extra`
    (the pack `cep rules apply --test` is applying); a later rule of the same name replaces an earlier one.
    """
    if not isinstance(data, Mapping):
        raise SuiteError([FieldError((), "a rule test file is a mapping with `tests` (and `rules` or `rule_files`)")])
    try:
        raw = _SuiteFile.model_validate(dict(data))
    except ValidationError as exc:
        raise SuiteError(from_pydantic(exc)) from None
    problems: list[FieldError] = []
    rules: dict[str, TestedRule] = {}
    for index, path in enumerate(raw.rule_files):
        _add_rules(rules, _pack_rules(path, read_rule_file, ("rule_files", index), problems), problems, now)
    _add_rules(rules, [(("rules", i), item) for i, item in enumerate(raw.rules)], problems, now)
    for spec in extra:
        rules[spec.name] = of_spec(spec, now)
    cases: list[Case] = []
    for c, item in enumerate(raw.tests):
        try:
            cases.append(Case.model_validate(item))
        except ValidationError as exc:
            problems += from_pydantic(exc, prefix=("tests", c))
        problems += _unknown_rules(c, item, rules)
    if problems:
        raise SuiteError(problems)
    return Suite(rules=rules, cases=cases)


def _unknown_rules(index: int, case: Any, rules: Mapping[str, TestedRule]) -> list[FieldError]:
    """The checks of a case (valid or not) that name a rule the file does not have."""
    known = ", ".join(sorted(rules)) or "none"
    problems = []
    for kind in ("expect", "expect_none"):
        checks = case.get(kind) if isinstance(case, Mapping) else None
        for i, check in enumerate(checks if isinstance(checks, list) else []):
            name = check.get("rule") if isinstance(check, Mapping) else None
            if isinstance(name, str) and name and name not in rules:
                msg = f"no rule named {name!r} (the rules: {known})"
                problems.append(FieldError(("tests", index, kind, i, "rule"), msg))
    return problems


def _pack_rules(
    path: str, read: Callable[[str], Any], where: tuple[str | int, ...], problems: list[FieldError]
) -> list[tuple[tuple[str | int, ...], Any]]:
    try:
        data = read(path)
    except (OSError, ValueError) as exc:
        problems.append(FieldError(where, str(exc)))
        return []
    if not isinstance(data, Mapping) or not isinstance(data.get("rules"), list):
        problems.append(FieldError(where, f"{path} is not a rule pack (a mapping with a `rules` list)"))
        return []
    return [((*where, "rules", i), item) for i, item in enumerate(data["rules"])]


def _add_rules(
    rules: dict[str, TestedRule],
    items: list[tuple[tuple[str | int, ...], Any]],
    problems: list[FieldError],
    now: datetime,
) -> None:
    for where, item in items:
        try:
            tested = tested_rule(item, now)
        except RuleValidationError as exc:
            problems.extend(FieldError((*where, *e.loc), e.msg) for e in exc.errors)
            continue
        rules[tested.name] = tested
