"""Condition trees evaluated in three-valued logic, every node explaining its result and observed value.

Semantics (the evaluator, simulate, replay and the tests all call this module; there is no second one):

- Kleene logic: a node is True, False or None (unknown). AND is False if any child is False, else None if
  any child is None, else True. OR is True if any child is True, else None if any child is None, else
  False. NOT None is None. A rule's conditions match only when the root is True.
- A field path that names nothing in the payload is an evaluation *error*: the leaf is None and carries
  an error naming the path. It is never a crash and never a silent False. The exception is `exists`
  (value true or null: "must exist"; false: "must not exist"), which is True or False without error.
  A path that resolves to JSON null exists.
- Ordering (`>` `>=` `<` `<=`): two numbers compare numerically (a bool is not a number); two strings
  compare as strings; a number and a numeric string (`"92"`, as shell scripts send) compare numerically
  after converting the string; any other pair is None with a type-mismatch error.
- `==` / `!=`: numbers compare numerically (`1 == 1.0`, but `true != 1`); anything else by JSON equality.
  `in` / `not_in`: membership in the rule's list, same equality. `contains`: substring for strings,
  membership for lists, key for objects, else an error. `regex`: search anywhere in a string, as
  `re.search` does, but on RE2 (services/common/domain/conditions/regex.py: no backtracking, so no pattern can
  stall a shard; compiled patterns are cached); a non-string observed value is an error, and so is a
  pattern RE2 refuses (one saved before RE2) or a text too long for the pattern's cost cap.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from services.common.domain.conditions import regex
from services.common.domain.rules.model import ConditionLeaf, ConditionNode
from services.common.domain.rules.paths import MISSING, lookup

Verdict = tuple[bool | None, str | None]

_ORDERING: dict[str, Callable[[Any, Any], bool]] = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}
_PLAIN_NUMBERS = frozenset({int, float})
# Unambiguous (`\d+(\.\d*)?`, not `\d+\.?\d*`): the ambiguous form backtracks quadratically on a long digit run.
_NUMERIC_TEXT = re.compile(r"^\s*[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?\s*$")
_OP_TEXT = {"in": "in", "not_in": "not in", "contains": "contains", "regex": "=~"}


@dataclass(frozen=True, slots=True)
class Explanation:
    """The verdict of one condition node: its expression, result, observed value and children."""

    expr: str
    result: bool | None
    value: Any = None
    error: str | None = None
    logic: str | None = None
    path: str = ""
    children: tuple[Explanation, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """JSON of this node and, for groups, every descendant under `conditions`."""
        out: dict[str, Any] = {"expr": self.expr, "result": self.result, "value": self.value, "path": self.path}
        if self.error is not None:
            out["error"] = self.error
        if self.logic is not None:
            out["logic"] = self.logic
            out["conditions"] = [child.as_dict() for child in self.children]
        return out

    def errors(self) -> list[str]:
        """Every error in the subtree, depth first, each prefixed by its path in the rule."""
        found = [f"{self.path}: {self.error}"] if self.error is not None else []
        for child in self.children:
            found.extend(child.errors())
        return found


def evaluate(node: ConditionNode, payload: Mapping[str, Any], path: str = "conditions") -> Explanation:
    """Evaluate a condition tree against a payload, explaining every node (no short-circuit)."""
    if isinstance(node, ConditionLeaf):
        return _evaluate_leaf(node, payload, path)
    children = tuple(evaluate(child, payload, f"{path}.conditions.{i}") for i, child in enumerate(node.conditions))
    result = combine(node.logic, [child.result for child in children])
    return Explanation(expr=node.logic, result=result, logic=node.logic, path=path, children=children)


def truth(node: ConditionNode, payload: Mapping[str, Any]) -> bool | None:
    """The result `evaluate` would give, without explanations and short-circuiting where 3VL allows."""
    if isinstance(node, ConditionLeaf):
        observed = lookup(payload, node.field)
        if observed is MISSING and node.op != "exists":
            return None
        return compare(node.op, observed, node.value)[0]
    if node.logic == "NOT":
        inner = truth(node.conditions[0], payload)
        return None if inner is None else not inner
    decisive = node.logic == "OR"  # the child value that settles the group: True for OR, False for AND
    unknown = False
    for child in node.conditions:
        result = truth(child, payload)
        if result is decisive:
            return decisive
        unknown = unknown or result is None
    return None if unknown else not decisive


def combine(logic: str, results: list[bool | None]) -> bool | None:
    """Combine child results under AND, OR or NOT in Kleene three-valued logic."""
    if logic == "NOT":
        return None if results[0] is None else not results[0]
    decisive = logic == "OR"
    if decisive in results:
        return decisive
    return None if None in results else not decisive


def leaf_expr(field: str, op: str, value: Any) -> str:
    """The human text of a leaf: `severity == 'critical'`, `cpu > 80`, `exists(host)`, `env in ['a', 'b']`."""
    if op == "exists":
        return f"not exists({field})" if value is False else f"exists({field})"
    return f"{field} {_OP_TEXT.get(op, op)} {literal(value)}"


def literal(value: Any) -> str:
    """A value as written in expressions: strings single-quoted, JSON words for true/false/null."""
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(literal(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{literal(str(k))}: {literal(v)}" for k, v in value.items()) + "}"
    return str(value)


def compare(op: str, observed: Any, expected: Any) -> Verdict:
    """Apply one condition operator to an observed value; return (result, error), result None on error.

    `observed` may be `MISSING` (the path named nothing): only `exists` answers that without an error.
    """
    if op == "exists":
        return _exists(observed, expected)
    if observed is MISSING:
        return None, "field not found in payload"
    handler = _HANDLERS.get(op)
    if handler is None:
        return None, f"unknown operator {op!r}"
    return handler(op, observed, expected)


def _evaluate_leaf(leaf: ConditionLeaf, payload: Mapping[str, Any], path: str) -> Explanation:
    observed = lookup(payload, leaf.field)
    expr = leaf_expr(leaf.field, leaf.op, leaf.value)
    if observed is MISSING and leaf.op != "exists":
        return Explanation(expr, None, None, f"field '{leaf.field}' not found in payload", path=path)
    result, error = compare(leaf.op, observed, leaf.value)
    return Explanation(expr, result, None if observed is MISSING else observed, error, path=path)


def _exists(observed: Any, expected: Any) -> Verdict:
    if expected is not None and not isinstance(expected, bool):
        return None, "'exists' takes true, false or nothing"
    present = observed is not MISSING
    return present if expected in (None, True) else not present, None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _as_number(value: Any) -> int | float | None:
    """A number, or a numeric string converted; None for anything else (bools included)."""
    if _is_number(value):
        return value
    if isinstance(value, str) and _NUMERIC_TEXT.match(value):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


def _ordering(op: str, observed: Any, expected: Any) -> Verdict:
    if type(observed) in _PLAIN_NUMBERS and type(expected) in _PLAIN_NUMBERS:  # the hot path: two numbers
        return _ORDERING[op](observed, expected), None
    if isinstance(observed, str) and isinstance(expected, str):
        return _ORDERING[op](observed, expected), None
    if _is_number(observed) or _is_number(expected):
        left, right = _as_number(observed), _as_number(expected)
        if left is not None and right is not None:
            return _ORDERING[op](left, right), None
    return None, f"cannot compare {_kind(observed)} {literal(observed)} {op} {_kind(expected)} {literal(expected)}"


def same(left: Any, right: Any) -> bool:
    """JSON equality where numbers compare numerically and a bool never equals a number."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if _is_number(left) and _is_number(right):
        return left == right
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(same(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return left.keys() == right.keys() and all(same(left[k], right[k]) for k in left)
    if _is_number(left) or _is_number(right) or isinstance(left, list | tuple | Mapping):
        return False  # a number against a string, a list against a scalar...: never equal
    return bool(left == right)


def _equality(op: str, observed: Any, expected: Any) -> Verdict:
    equal = same(observed, expected)
    return (equal if op == "==" else not equal), None


def _membership(op: str, observed: Any, expected: Any) -> Verdict:
    if not isinstance(expected, list | tuple):
        return None, f"'{op}' needs a list of values, got {_kind(expected)}"
    found = any(same(observed, item) for item in expected)
    return (found if op == "in" else not found), None


def _contains(op: str, observed: Any, expected: Any) -> Verdict:
    if isinstance(observed, str):
        if not isinstance(expected, str):
            return None, f"'contains' on a string needs a string, got {_kind(expected)}"
        return expected in observed, None
    if isinstance(observed, list | tuple):
        return any(same(item, expected) for item in observed), None
    if isinstance(observed, Mapping):
        return isinstance(expected, str) and expected in observed, None
    return None, f"'contains' needs a string, list or object, got {_kind(observed)} {literal(observed)}"


def _regex(op: str, observed: Any, expected: Any) -> Verdict:
    if not isinstance(observed, str):
        return None, f"'regex' needs a string, got {_kind(observed)} {literal(observed)}"
    if not isinstance(expected, str):
        return None, "'regex' needs a pattern string"
    try:
        return regex.search(expected, observed), None
    except regex.PatternError as exc:
        return None, str(exc)
    except regex.TextRefused as exc:
        return None, f"'regex': {exc}"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if _is_number(value):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


_HANDLERS: dict[str, Callable[[str, Any, Any], Verdict]] = {
    **dict.fromkeys(_ORDERING, _ordering),
    "==": _equality,
    "!=": _equality,
    "in": _membership,
    "not_in": _membership,
    "contains": _contains,
    "regex": _regex,
}
