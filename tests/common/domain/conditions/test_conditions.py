"""Condition evaluation: every operator, three-valued logic, explanations of every node."""

from __future__ import annotations

from typing import Any

import pytest

from services.common.domain.conditions.tree import Explanation, compare, evaluate, leaf_expr, truth
from services.common.domain.rules.model import ConditionGroup, ConditionLeaf, parse_rule
from services.common.domain.rules.paths import MISSING


def tree(data: dict[str, Any]) -> Any:
    """A validated condition node, through the same path as a stored rule."""
    body = {"name": "t", "trigger_type": "event", "trigger_spec": {"event_type": "e"}, "conditions": data}
    return parse_rule(body).conditions


def leaf(field: str, op: str, value: Any = None) -> dict[str, Any]:
    return {"field": field, "op": op, "value": value}


COMPARE_CASES: list[tuple[str, Any, Any, bool | None]] = [
    # ordering: numbers, strings, numeric strings from shell scripts
    (">", 92, 85, True),
    (">", 85, 85, False),
    (">=", 85, 85.0, True),
    ("<", 1.5, 2, True),
    ("<=", -3, -3, True),
    (">", "92", 85, True),
    (">", " 92 ", 85, True),
    (">", "8.5e1", 85, False),
    (">", 92, "85", True),
    (">", "b", "a", True),
    (">", "92", "100", True),  # two strings compare as strings, documented
    (">", "abc", 85, None),
    (">", True, 0, None),
    (">", None, 1, None),
    (">", [1], 0, None),
    (">", {"a": 1}, 0, None),
    (">", "nan", 1, None),
    (">", "inf", 1, None),
    # equality
    ("==", 1, 1.0, True),
    ("==", "critical", "critical", True),
    ("==", "Critical", "critical", False),
    ("==", True, 1, False),
    ("==", 1, True, False),
    ("==", False, False, True),
    ("==", "1", 1, False),
    ("==", None, None, True),
    ("==", None, "x", False),
    ("==", [1, 2], [1.0, 2], True),
    ("==", [True], [1], False),
    ("==", {"a": 1}, {"a": 1.0}, True),
    ("==", {"a": 1}, {"b": 1}, False),
    ("!=", "warning", "critical", True),
    ("!=", 2, 2.0, False),
    ("!=", True, 1, True),
    # membership
    ("in", "prod", ["prod", "staging"], True),
    ("in", "dev", ["prod", "staging"], False),
    ("in", 1.0, [1, 2], True),
    ("in", True, [1], False),
    ("in", "x", "xyz", None),
    ("not_in", "dev", ["prod"], True),
    ("not_in", 2, [2.0], False),
    # contains
    ("contains", "disk full on /var", "full", True),
    ("contains", "disk ok", "full", False),
    ("contains", ["a", "b"], "b", True),
    ("contains", [1, 2], 2.0, True),
    ("contains", [1, 2], "2", False),
    ("contains", {"host": "a"}, "host", True),
    ("contains", {"host": "a"}, "a", False),
    ("contains", "abc", 1, None),
    ("contains", 42, 4, None),
    ("contains", None, "a", None),
    # regex
    ("regex", "api-gateway-7", r"^api-\w+", True),
    ("regex", "web-1", r"^api-", False),
    ("regex", "xx error yy", "error", True),  # search, not match
    ("regex", 500, "5..", None),
    ("regex", "x", "(", None),
    # exists
    ("exists", "a", None, True),
    ("exists", None, True, True),  # a JSON null is present
    ("exists", MISSING, None, False),
    ("exists", MISSING, False, True),
    ("exists", 1, False, False),
    ("exists", 1, "yes", None),
    # anything on a missing value but exists
    ("==", MISSING, None, None),
    ("!=", MISSING, "x", None),
    ("like", "a", "a", None),
]


@pytest.mark.parametrize(("op", "observed", "expected", "result"), COMPARE_CASES)
def test_compare(op: str, observed: Any, expected: Any, result: bool | None) -> None:
    got, error = compare(op, observed, expected)
    assert got is result
    assert (error is None) == (result is not None)


def test_type_mismatch_names_both_sides() -> None:
    assert compare(">", "abc", 85) == (None, "cannot compare string 'abc' > number 85")


LEAF_TEXTS = [
    ("severity", "==", "critical", "severity == 'critical'"),
    ("cpu", ">", 80, "cpu > 80"),
    ("cpu", ">=", 80.5, "cpu >= 80.5"),
    ("host", "exists", None, "exists(host)"),
    ("host", "exists", True, "exists(host)"),
    ("host", "exists", False, "not exists(host)"),
    ("env", "in", ["prod", "staging"], "env in ['prod', 'staging']"),
    ("code", "not_in", [500, 502], "code not in [500, 502]"),
    ("msg", "contains", "it's", "msg contains 'it\\'s'"),
    ("msg", "regex", "^err", "msg =~ '^err'"),
    ("flag", "!=", True, "flag != true"),
    ("owner", "==", None, "owner == null"),
]


@pytest.mark.parametrize(("field", "op", "value", "text"), LEAF_TEXTS)
def test_leaf_expr(field: str, op: str, value: Any, text: str) -> None:
    assert leaf_expr(field, op, value) == text


LAB5 = {
    "logic": "OR",
    "conditions": [
        {"logic": "AND", "conditions": [leaf("cpu", ">", 80), leaf("memory", ">", 70)]},
        leaf("disk", ">", 90),
    ],
}

THREE_VALUED = [
    # (tree, payload, result)
    (LAB5, {"cpu": 85, "memory": 75, "disk": 10}, True),
    (LAB5, {"cpu": 85, "memory": 60, "disk": 10}, False),
    (LAB5, {"cpu": 50, "memory": 90, "disk": 95}, True),
    (LAB5, {"cpu": 85, "disk": 10}, None),  # memory missing: AND(True, None) = None, OR(None, False) = None
    (LAB5, {"cpu": 50, "disk": 10}, False),  # AND(False, None) = False
    (LAB5, {"cpu": 85, "disk": 95}, True),  # OR(None, True) = True
    (LAB5, {}, None),
    ({"logic": "NOT", "conditions": [leaf("x", "==", 1)]}, {"x": 1}, False),
    ({"logic": "NOT", "conditions": [leaf("x", "==", 1)]}, {"x": 2}, True),
    ({"logic": "NOT", "conditions": [leaf("x", "==", 1)]}, {}, None),
    ({"logic": "NOT", "conditions": [leaf("x", "exists", None)]}, {}, True),
    ({"logic": "AND", "conditions": [leaf("a.b", "==", 1)]}, {"a": {"b": 1}}, True),
    ({"logic": "AND", "conditions": [leaf("a.0", "==", "x")]}, {"a": ["x"]}, True),
    ({"logic": "AND", "conditions": [leaf("a.b", "==", 1)]}, {"a": 1}, None),
    (leaf("severity", "==", "critical"), {"severity": "warning"}, False),
]


@pytest.mark.parametrize(("data", "payload", "result"), THREE_VALUED)
def test_three_valued_logic(data: dict[str, Any], payload: dict[str, Any], result: bool | None) -> None:
    node = tree(data)
    assert evaluate(node, payload).result is result
    assert truth(node, payload) is result


def test_explanation_lists_every_node_with_paths_and_values() -> None:
    explained = evaluate(tree(LAB5), {"cpu": 85, "disk": 95})
    assert explained.as_dict() == {
        "expr": "OR",
        "result": True,
        "value": None,
        "path": "conditions",
        "logic": "OR",
        "conditions": [
            {
                "expr": "AND",
                "result": None,
                "value": None,
                "path": "conditions.conditions.0",
                "logic": "AND",
                "conditions": [
                    {"expr": "cpu > 80", "result": True, "value": 85, "path": "conditions.conditions.0.conditions.0"},
                    {
                        "expr": "memory > 70",
                        "result": None,
                        "value": None,
                        "path": "conditions.conditions.0.conditions.1",
                        "error": "field 'memory' not found in payload",
                    },
                ],
            },
            {"expr": "disk > 90", "result": True, "value": 95, "path": "conditions.conditions.1"},
        ],
    }
    assert explained.errors() == ["conditions.conditions.0.conditions.1: field 'memory' not found in payload"]


def test_wrong_field_path_is_reported_not_silent() -> None:
    """Guide's failure-injection set: a wrong field path fails evaluation visibly."""
    explained = evaluate(tree(leaf("cpu_usge", ">", 85)), {"cpu_usage": 92})
    assert explained.result is None
    assert explained.errors() == ["conditions: field 'cpu_usge' not found in payload"]


def test_type_error_is_reported_with_value() -> None:
    explained = evaluate(tree(leaf("cpu", ">", 85)), {"cpu": "high"})
    assert (explained.result, explained.value) == (None, "high")
    assert explained.error == "cannot compare string 'high' > number 85"


def test_custom_root_path_and_exists_value() -> None:
    explained = evaluate(tree(leaf("host", "exists")), {"host": None}, path="rule.conditions")
    assert explained == Explanation("exists(host)", True, None, path="rule.conditions")
    assert evaluate(tree(leaf("host", "exists", False)), {}).as_dict() == {
        "expr": "not exists(host)",
        "result": True,
        "value": None,
        "path": "conditions",
    }


def test_models_are_accepted_directly() -> None:
    node = ConditionGroup(logic="AND", conditions=[ConditionLeaf(field="a", op="in", value=[1, 2])])
    assert evaluate(node, {"a": 2}).result is True
