"""A rule's labels and annotations: names checked in the model, limits named by field path, the form's rows."""

from __future__ import annotations

from typing import Any

import pytest

from services.common.domain.labels.rule_labels import MAX_LABEL_VALUE, MAX_LABELS, LabelLimits
from services.common.domain.rules.errors import RuleValidationError
from services.common.domain.rules.forms import form_to_body, preview
from services.common.domain.rules.model import parse_rule

BODY: dict[str, Any] = {"name": "r", "trigger_type": "event", "trigger_spec": {"event_type": "error"}}


def test_labels_and_annotations_default_to_empty_objects_in_the_canonical_json() -> None:
    canonical = parse_rule(BODY).canonical()
    assert canonical["labels"] == {} and canonical["annotations"] == {}


def test_labels_and_annotations_round_trip_through_the_canonical_json() -> None:
    body = {**BODY, "labels": {"team": "sre", "env": "prod"}, "annotations": {"summary": "{{ payload.host }} down"}}
    canonical = parse_rule(body).canonical()
    assert canonical["labels"] == {"team": "sre", "env": "prod"}
    assert canonical["annotations"] == {"summary": "{{ payload.host }} down"}
    assert parse_rule(canonical).canonical() == canonical


@pytest.mark.parametrize(
    ("field", "value", "loc", "msg"),
    [
        ("labels", {"bad-name": "x"}, ["labels", "bad-name"], "Prometheus"),
        ("labels", {"9lives": "x"}, ["labels", "9lives"], "Prometheus"),
        ("labels", {"__meta": "x"}, ["labels", "__meta"], "reserved"),
        ("labels", {"team": 5}, ["labels", "team"], "string"),
        ("labels", ["team"], ["labels"], "dictionary"),
        ("annotations", {"a b": "x"}, ["annotations", "a b"], "Prometheus"),
        ("annotations", {"__x": "x"}, ["annotations", "__x"], "reserved"),
        ("annotations", {"summary": None}, ["annotations", "summary"], "string"),
    ],
)
def test_bad_names_and_values_name_their_field(field: str, value: Any, loc: list[str], msg: str) -> None:
    with pytest.raises(RuleValidationError) as caught:
        parse_rule({**BODY, field: value})
    errors = [e.as_dict() for e in caught.value.errors]
    assert [e["loc"] for e in errors] == [loc]
    assert msg.lower() in str(errors[0]["msg"]).lower()


def test_limits_name_the_offending_label() -> None:
    limits = LabelLimits(labels=2, name=8, value=5, annotations=1, annotation=10)
    labels = {"a": "x", "long_name_x": "x", "c": "toolong"}
    annotations = {"s": "x" * 11, "t": "y"}
    found = {(".".join(map(str, e.loc)), e.msg.split(",")[0]) for e in limits.problems(labels, annotations)}
    assert found == {
        ("labels", "at most 2 labels"),
        ("labels.long_name_x", "a name is at most 8 characters"),
        ("labels.c", "a value is at most 5 characters"),
        ("annotations", "at most 1 annotations"),
        ("annotations.s", "a value is at most 10 characters"),
    }


def test_default_limits_admit_exactly_their_numbers() -> None:
    limits = LabelLimits()
    at_limit = {f"l{i}": "v" * MAX_LABEL_VALUE for i in range(MAX_LABELS)}
    assert limits.problems(at_limit, {}) == []
    over = {**at_limit, "one_more": "v" * (MAX_LABEL_VALUE + 1)}
    assert {e.loc for e in limits.problems(over, {})} == {("labels",), ("labels", "one_more")}


def test_the_form_takes_editor_rows_and_drops_blank_ones() -> None:
    form = {
        "name": "r",
        "trigger_type": "event",
        "trigger": {"event_type": "error"},
        "labels": [{"name": "team", "value": "sre"}, {"name": "", "value": ""}],
        "annotations": {"summary": "{{ rule_name }}"},
    }
    body = form_to_body(form)
    assert body["labels"] == {"team": "sre"} and body["annotations"] == {"summary": "{{ rule_name }}"}
    shown = preview(form)
    assert shown.errors == [] and shown.rule is not None and shown.rule["labels"] == {"team": "sre"}


def test_a_form_row_with_a_bad_name_is_an_error_naming_it() -> None:
    form = {**BODY, "trigger": {"event_type": "e"}, "labels": [{"name": "bad name", "value": "x"}]}
    del form["trigger_spec"]
    assert [e.path for e in preview(form).errors] == ["labels.bad name"]
