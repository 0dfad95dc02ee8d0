"""The pattern trigger model: its limits, errors that name the field path, the round trip and the summary."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from services.common.cli.rules_pack import export_pack, load_pack, plan
from services.common.domain.patterns.spec import (
    MAX_STEPS,
    MAX_TIMES,
    MAX_WITHIN_SECONDS,
    PatternTrigger,
    parse_pattern,
)
from services.common.domain.patterns.summary import summarize_pattern
from services.common.domain.rules.errors import RuleValidationError
from services.common.domain.rules.model import Rule, parse_rule

FAIL = {"name": "fail", "event_type": "login.failed"}
OK = {"name": "ok", "event_type": "login.succeeded"}
NOT_PAID = {"name": "paid", "event_type": "payment", "negate": True}


def errors_of(spec: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(RuleValidationError) as caught:
        parse_pattern(spec)
    return {error.path: error.msg for error in caught.value.errors}


def with_steps(*steps: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"steps": list(steps), "within": "2m", **fields}


@pytest.mark.parametrize(
    ("spec", "path", "fragment"),
    [
        (with_steps(FAIL, {**OK, "times": {"min": 0}}), "trigger_spec.steps.1.times.min", "greater than or equal to 1"),
        (with_steps({**FAIL, "times": {"min": 3, "max": 2}}), "trigger_spec.steps.0.times.max", "at least min (3)"),
        (with_steps({**FAIL, "times": {"min": 1, "max": MAX_TIMES + 1}}), "trigger_spec.steps.0.times.max", "100"),
        (with_steps({**FAIL, "times": {"min": MAX_TIMES + 1}}), "trigger_spec.steps.0.times.min", "100"),
        (with_steps(*[{**FAIL, "name": f"s{i}"} for i in range(MAX_STEPS + 1)]), "trigger_spec.steps", "at most 10"),
        (with_steps(), "trigger_spec.steps", "at least 1"),
        ({"steps": [FAIL], "within": "8d"}, "trigger_spec.within", "at most 7d"),
        ({"steps": [FAIL], "within": "0s"}, "trigger_spec.within", "longer than 0s"),
        ({"steps": [FAIL], "within": "soon"}, "trigger_spec.within", "invalid duration"),
        ({"steps": [FAIL]}, "trigger_spec.within", "required"),
        (with_steps(FAIL, {**OK, "name": "fail"}), "trigger_spec.steps.1.name", "unique"),
        (with_steps({**FAIL, "name": "a b"}), "trigger_spec.steps.0.name", "pattern"),
        (with_steps({**NOT_PAID}, OK), "trigger_spec.steps.0.negate", "first step"),
        (with_steps(FAIL, NOT_PAID, {**NOT_PAID, "name": "p2"}), "trigger_spec.steps.2.negate", "follow each other"),
        (with_steps(FAIL, {**NOT_PAID, "times": {"min": 2}}), "trigger_spec.steps.1.times", "no count"),
        (with_steps(FAIL, NOT_PAID, OK, contiguity="strict"), "trigger_spec.steps.1.negate", "strict"),
        (with_steps(FAIL, contiguity="loose"), "trigger_spec.contiguity", "'relaxed', 'strict' or 'any'"),
        (with_steps(FAIL, skip="skip_past_last"), "trigger_spec.skip", "'past_last' or 'to_next'"),
        (with_steps(FAIL, same=[]), "trigger_spec.same", "at least 1"),
        (with_steps(FAIL, same=["a..b"]), "trigger_spec.same.0", "invalid field path"),
        (with_steps({**FAIL, "conditions": {"field": "x", "op": "~"}}), "trigger_spec.steps.0.conditions.op", "Input"),
        (with_steps({**FAIL, "colour": "red"}), "trigger_spec.steps.0.colour", "Extra inputs"),
    ],
)
def test_errors_name_the_field(spec: dict[str, Any], path: str, fragment: str) -> None:
    errors = errors_of(spec)
    assert path in errors, errors
    assert fragment in errors[path]


def test_every_cross_step_problem_is_reported_at_once() -> None:
    errors = errors_of(with_steps(NOT_PAID, {**FAIL, "name": "paid"}))
    assert set(errors) == {"trigger_spec.steps.0.negate", "trigger_spec.steps.1.name"}


def test_a_body_that_is_no_object_is_refused() -> None:
    assert errors_of([1]) == {"trigger_spec": "trigger_spec is an object"}  # type: ignore[arg-type]


def test_model_validate_alone_refuses_cross_step_problems_too() -> None:
    with pytest.raises(ValidationError, match="unique"):
        PatternTrigger.model_validate(with_steps(FAIL, {**OK, "name": "fail"}))


def test_limits_are_accepted_up_to_their_bound() -> None:
    steps = [{**FAIL, "name": f"s{i}", "times": {"min": MAX_TIMES, "max": MAX_TIMES}} for i in range(MAX_STEPS)]
    trigger = parse_pattern({"steps": steps, "within": "7d"})
    assert trigger.within_seconds == MAX_WITHIN_SECONDS and len(trigger.steps) == MAX_STEPS


def test_contract_example_round_trips_with_its_defaults() -> None:
    body = {
        "steps": [{**FAIL, "times": {"min": 5}}, OK],
        "within": "2m",
        "same": ["user"],
    }
    trigger = parse_pattern(body)
    assert (trigger.contiguity, trigger.skip) == ("relaxed", "past_last")
    assert trigger.steps[0].count.max is None and trigger.steps[1].count.min == trigger.steps[1].count.max == 1
    dumped = trigger.model_dump(mode="json", exclude_none=True)
    assert parse_pattern(dumped) == trigger
    assert dumped["steps"][0] == {"name": "fail", "event_type": "login.failed", "times": {"min": 5}, "negate": False}


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        (
            with_steps({**FAIL, "times": {"min": 5}}, OK, same=["user"]),
            "login.failed x5+ then login.succeeded within 2m, same user",
        ),
        (
            {"steps": [{"name": "order", "event_type": "order.placed"}, NOT_PAID], "within": "15m"},
            "order.placed then not payment within 15m",
        ),
        (
            with_steps({**FAIL, "times": {"min": 2, "max": 4}}, {**OK, "times": {"min": 3, "max": 3}}, skip="to_next"),
            "login.failed x2..4 then login.succeeded x3 within 2m, overlapping (skip to next)",
        ),
        (
            with_steps({**FAIL, "conditions": {"field": "ip", "op": "==", "value": "10.0.0.1"}}, contiguity="strict"),
            "login.failed (ip == '10.0.0.1') within 2m, strict contiguity",
        ),
    ],
)
def test_summary(spec: dict[str, Any], text: str) -> None:
    assert summarize_pattern(parse_pattern(spec)) == text


def test_the_public_rule_model_takes_a_pattern_trigger() -> None:
    body = {"name": "brute_force", "trigger_type": "pattern", "trigger_spec": with_steps(FAIL, OK)}
    spec = parse_rule(body)
    assert isinstance(spec.trigger_spec, PatternTrigger)
    assert spec.canonical()["trigger_spec"]["steps"][0] == {**FAIL, "negate": False}


@pytest.mark.parametrize(
    ("trigger", "paths"),
    [
        (with_steps(FAIL, {**OK, "times": {"min": 0}}), ["trigger_spec.steps.1.times.min"]),
        (with_steps(FAIL, {**FAIL}), ["trigger_spec.steps.1.name"]),
        (
            with_steps(FAIL, {**OK, "negate": True}, {**OK, "name": "again", "negate": True}),
            ["trigger_spec.steps.2.negate"],
        ),
        ({**with_steps(FAIL), "within": "8d"}, ["trigger_spec.within"]),
        ("steps", ["trigger_spec"]),
    ],
)
def test_a_bad_pattern_rule_names_the_field_as_the_domain_does(trigger: Any, paths: list[str]) -> None:
    body = {"name": "brute_force", "trigger_type": "pattern", "trigger_spec": trigger}
    with pytest.raises(RuleValidationError) as caught:
        parse_rule(body)
    assert [error.path for error in caught.value.errors] == paths


def test_a_stored_pattern_rule_reads_back_into_the_same_trigger() -> None:
    spec = parse_rule({"name": "bf", "trigger_type": "pattern", "trigger_spec": with_steps(FAIL, OK)})
    stored = {**spec.canonical(), "rule_id": "r1", "tenant": "t", "version": 1}
    stored |= {"created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}
    assert Rule.model_validate(stored).trigger_spec == spec.trigger_spec


def test_a_pattern_rule_round_trips_through_a_rule_pack() -> None:
    spec = parse_rule({"name": "bf", "trigger_type": "pattern", "trigger_spec": with_steps(FAIL, OK, same=["user"])})
    stored = {**spec.canonical(), "rule_id": "r1", "tenant": "t", "version": 1}
    stored |= {"created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}
    (loaded,) = load_pack(export_pack([stored]))
    assert loaded == spec
    assert [change.step for change in plan([loaded], [stored])] == ["unchanged"]
