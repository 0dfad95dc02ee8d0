"""Properties of the condition evaluator against a naive, independently written three-valued oracle."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.domain.conditions.tree import Explanation, evaluate, truth
from services.common.domain.rules.model import ConditionGroup, ConditionLeaf, ConditionNode

FIELDS = ("a", "b", "c", "d")
# Small domains so that payload values and rule values often collide (1 vs 1.0 vs True vs "1").
SCALARS = st.one_of(
    st.integers(0, 2),
    st.sampled_from([1.0, 2.5]),
    st.sampled_from(["x", "1", "xy", ""]),
    st.booleans(),
    st.none(),
)
ORDERABLE = st.one_of(st.integers(0, 2), st.sampled_from([0.5, 2.0]), st.sampled_from(["x", "1", "2"]))


@st.composite
def _payloads(draw: st.DrawFn) -> dict[str, Any]:
    """Every field set, then up to two dropped: most leaves see a value, some a missing path."""
    values = {field: draw(SCALARS) for field in FIELDS}
    for field in draw(st.sets(st.sampled_from(FIELDS), max_size=2)):
        del values[field]
    return values


payloads = _payloads()


def _leaf_strategy() -> st.SearchStrategy[ConditionLeaf]:
    field = st.sampled_from(FIELDS)
    return st.one_of(
        st.builds(ConditionLeaf, field=field, op=st.sampled_from(["==", "!="]), value=SCALARS),
        st.builds(ConditionLeaf, field=field, op=st.sampled_from([">", ">=", "<", "<="]), value=ORDERABLE),
        st.builds(
            ConditionLeaf, field=field, op=st.sampled_from(["in", "not_in"]), value=st.lists(SCALARS, max_size=3)
        ),
        st.builds(ConditionLeaf, field=field, op=st.just("exists"), value=st.sampled_from([None, True, False])),
        st.builds(ConditionLeaf, field=field, op=st.just("contains"), value=st.sampled_from(["x", "1", ""])),
    )


def _group(children: st.SearchStrategy[ConditionNode]) -> st.SearchStrategy[ConditionNode]:
    return st.one_of(
        st.builds(
            ConditionGroup, logic=st.sampled_from(["AND", "OR"]), conditions=st.lists(children, min_size=1, max_size=4)
        ),
        st.builds(ConditionGroup, logic=st.just("NOT"), conditions=st.lists(children, min_size=1, max_size=1)),
    )


def _trees(depth: int) -> st.SearchStrategy[ConditionNode]:
    """Trees of at most `depth` group levels above the leaves."""
    if depth == 0:
        return _leaf_strategy()
    return st.one_of(_leaf_strategy(), _group(_trees(depth - 1)))


trees = st.one_of(_leaf_strategy(), _group(_trees(3)))  # depth <= 4, a group at the root half of the time


# ---- the oracle: truth values as 0 (False), 0.5 (unknown), 1 (True); AND = min, OR = max, NOT = 1 - x ----

UNKNOWN = 0.5


def _number(value: Any) -> float | None:
    if type(value) in (int, float):
        return float(value)
    if type(value) is str:
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _equal(x: Any, y: Any) -> bool:
    if type(x) is bool or type(y) is bool:
        return type(x) is bool and type(y) is bool and x == y
    if type(x) in (int, float) and type(y) in (int, float):
        return float(x) == float(y)
    if type(x) in (int, float) or type(y) in (int, float):
        return False
    return x == y


def _oracle_leaf(leaf: ConditionLeaf, payload: dict[str, Any]) -> float:
    present = leaf.field in payload
    if leaf.op == "exists":
        return float(present == (leaf.value is not False))
    if not present:
        return UNKNOWN
    x, v = payload[leaf.field], leaf.value
    if leaf.op in ("==", "!="):
        return float(_equal(x, v) == (leaf.op == "=="))
    if leaf.op in ("in", "not_in"):
        return float(any(_equal(x, item) for item in v) == (leaf.op == "in"))
    if leaf.op == "contains":
        return float(v in x) if type(x) is str else UNKNOWN
    if type(x) is str and type(v) is str:
        left, right = x, v
    elif (type(x) in (int, float) or type(v) in (int, float)) and _number(x) is not None and _number(v) is not None:
        left, right = _number(x), _number(v)
    else:
        return UNKNOWN
    return float({">": left > right, ">=": left >= right, "<": left < right, "<=": left <= right}[leaf.op])


def oracle(node: ConditionNode, payload: dict[str, Any]) -> bool | None:
    value = _oracle(node, payload)
    return None if value == UNKNOWN else value == 1.0


def _oracle(node: ConditionNode, payload: dict[str, Any]) -> float:
    if isinstance(node, ConditionLeaf):
        return _oracle_leaf(node, payload)
    values = [_oracle(child, payload) for child in node.conditions]
    if node.logic == "NOT":
        return 1.0 - values[0]
    return min(values) if node.logic == "AND" else max(values)


def _count(explained: dict[str, Any]) -> int:
    return 1 + sum(_count(child) for child in explained.get("conditions", []))


def _nodes(node: ConditionNode) -> int:
    return 1 if isinstance(node, ConditionLeaf) else 1 + sum(_nodes(child) for child in node.conditions)


@settings(max_examples=500, deadline=None)
@given(trees, payloads)
def test_evaluate_agrees_with_oracle(node: ConditionNode, payload: dict[str, Any]) -> None:
    explained = evaluate(node, payload)
    _agree(node, explained, payload)
    assert truth(node, payload) is explained.result


def _agree(node: ConditionNode, explained: Explanation, payload: dict[str, Any]) -> None:
    """Every node of the explanation, not only the root, holds the oracle's value."""
    assert explained.result is oracle(node, payload), explained.path
    if isinstance(node, ConditionGroup):
        for child, child_explained in zip(node.conditions, explained.children, strict=True):
            _agree(child, child_explained, payload)


@settings(max_examples=200, deadline=None)
@given(trees, payloads)
def test_every_node_is_explained_once(node: ConditionNode, payload: dict[str, Any]) -> None:
    as_dict = evaluate(node, payload).as_dict()
    assert _count(as_dict) == _nodes(node)
    errors = evaluate(node, payload).errors()
    assert len(errors) == len(set(errors))  # paths are distinct


@settings(max_examples=200, deadline=None)
@given(trees, payloads)
def test_double_negation(node: ConditionNode, payload: dict[str, Any]) -> None:
    double = ConditionGroup(logic="NOT", conditions=[ConditionGroup(logic="NOT", conditions=[node])])
    assert evaluate(double, payload).result is evaluate(node, payload).result


@settings(max_examples=200, deadline=None)
@given(trees, trees, payloads, st.sampled_from(["AND", "OR"]))
def test_de_morgan(left: ConditionNode, right: ConditionNode, payload: dict[str, Any], logic: str) -> None:
    dual = "OR" if logic == "AND" else "AND"
    negated = ConditionGroup(logic="NOT", conditions=[ConditionGroup(logic=logic, conditions=[left, right])])
    expanded = ConditionGroup(
        logic=dual,
        conditions=[ConditionGroup(logic="NOT", conditions=[left]), ConditionGroup(logic="NOT", conditions=[right])],
    )
    assert evaluate(negated, payload).result is evaluate(expanded, payload).result
    assert truth(negated, payload) is truth(expanded, payload)


@settings(max_examples=500, deadline=None)
@given(_leaf_strategy(), payloads)
def test_leaf_agrees_with_oracle(leaf: ConditionLeaf, payload: dict[str, Any]) -> None:
    assert evaluate(leaf, payload).result is oracle(leaf, payload)
