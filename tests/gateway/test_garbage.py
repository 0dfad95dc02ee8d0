"""Garbage at every route: never a 500, always a problem document (non-objects, junk, huge numbers, unicode)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.app import create_app
from tests.gateway.conftest import ADMIN, CPU_RULE, settings_for
from tests.gateway.routes.test_rule_tools import LAB8_FORM

JUNK: list[Any] = [
    None,
    True,
    0,
    -1,
    1.5,
    10**30,
    -(10**300),
    1.7976931348623157e308,
    "",
    " ",
    "\u0000",
    "ü" * 2000,
    "🔥",
    "' OR 1=1 --",
    "{{ 7*7 }}",
    [],
    [None],
    [[[[[]]]]],
    {},
    {"$ne": 1},
    {"logic": "AND", "conditions": "x"},
]
NON_OBJECTS: list[bytes] = [b"null", b"true", b"1", b"-0", b"1e308", b'"text"', b"[]", b"[{}]", b'"\\ud800"']


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    state: Path = tmp_path_factory.mktemp("garbage")
    with TestClient(create_app(settings_for(state))) as client:
        yield client


@pytest.fixture(scope="module")
def rule_id(shared: TestClient) -> str:
    return shared.post("/cep/rules", headers=ADMIN, json={**CPU_RULE, "name": "target"}).json()["rule_id"]


def _routes(rule_id: str) -> list[tuple[str, str, Any]]:
    """(method, path, a valid body) for every route that takes a body."""
    return [
        ("POST", "/cep/rules", CPU_RULE),
        ("PUT", f"/cep/rules/{rule_id}", CPU_RULE),
        ("PATCH", f"/cep/rules/{rule_id}", {"active": True, "trigger_spec": {"threshold": 90}}),
        ("POST", "/cep/rules/preview", LAB8_FORM),
        ("POST", "/cep/rules/form", LAB8_FORM),
        ("POST", "/cep/rules/simulate", {"rule": CPU_RULE, "payload": {"cpu_usage": 92}}),
        ("POST", f"/cep/rules/{rule_id}/simulate", {"payload": {"cpu_usage": 92}}),
        ("POST", "/cep/auth/tokens", {"tenant": "acme", "role": "viewer", "name": "x", "expires_in": "1d"}),
    ]


def _check(response: Any) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["status"] == response.status_code


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, child in value.items():
            yield (*prefix, key)
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield (*prefix, index)
            yield from _paths(child, (*prefix, index))


def _replace(body: Any, path: tuple[Any, ...], junk: Any) -> Any:
    copied = copy.deepcopy(body)
    node = copied
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = junk
    return copied


def test_non_object_bodies(shared: TestClient, rule_id: str) -> None:
    for method, path, _ in _routes(rule_id):
        for raw in NON_OBJECTS:
            response = shared.request(method, path, headers={**ADMIN, "content-type": "application/json"}, content=raw)
            _check(response)
            assert response.status_code in (400, 422), (path, raw, response.text)


@pytest.mark.slow  # long (a stack or a kill and recovery): `make test-slow` keeps `make test` under 10 min
def test_wrong_types_in_every_field(shared: TestClient, rule_id: str) -> None:
    for method, path, body in _routes(rule_id):
        for field_path in _paths(body):
            for junk in JUNK:
                _check(shared.request(method, path, headers=ADMIN, json=_replace(body, field_path, junk)))


def test_unknown_fields_everywhere(shared: TestClient, rule_id: str) -> None:
    for method, path, body in _routes(rule_id):
        _check(shared.request(method, path, headers=ADMIN, json={**body, "zz_unknown": 1}))
        for field_path in _paths(body):
            node = body
            for part in field_path:
                node = node[part]
            if isinstance(node, dict):
                _check(shared.request(method, path, headers=ADMIN, json=_replace(body, field_path, {**node, "zz": 1})))


def test_garbage_ids_and_queries(shared: TestClient) -> None:
    for rule_id in ("x" * 5000, "..", "%2e%2e", "%00", "null", "-1", "🔥", "%FF%FE"):
        for method in ("GET", "PUT", "PATCH", "DELETE"):
            _check(shared.request(method, f"/cep/rules/{rule_id}", headers=ADMIN, json={}))
        _check(shared.get(f"/cep/rules/{rule_id}/versions", headers=ADMIN))
        _check(shared.delete(f"/cep/auth/tokens/{rule_id}", headers=ADMIN))
    for query in (
        "limit=-1",
        "limit=" + "9" * 400,
        "active=🔥",
        "cursor=%00",
        "q=%FF",
        "since=" + "9" * 400,
        "cursor=",
        "cursor=WyJ4IiwieSJd",  # a well-formed cursor of the wrong content: ["x", "y"]
        "cursor=WzFd",
    ):
        for path in ("/cep/rules", "/cep/audit", "/cep/auth/tokens", "/cep/tenants"):
            _check(shared.get(f"{path}?{query}", headers=ADMIN))


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
rule_like = st.fixed_dictionaries(
    {},
    optional={
        "name": json_values,
        "trigger_type": st.sampled_from(["metric", "event", "schedule", "anomaly", "x"]) | json_values,
        "trigger_spec": st.dictionaries(
            st.sampled_from(["metric_name", "operator", "threshold", "duration", "cron", "event_type", "value_path"]),
            json_values,
        ),
        "conditions": json_values,
        "action_spec": json_values,
        "active": json_values,
        "version": json_values,
        "payload": json_values,
        "rule": json_values,
        "trigger": json_values,
        "role": json_values,
        "tenant": json_values,
    },
)


def _fuzz(shared: TestClient, rule_id: str, body: Any) -> None:
    for method, path, _ in _routes(rule_id):
        _check(shared.request(method, path, headers=ADMIN, json=body))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=json_values | rule_like)
def test_fuzzed_bodies_never_crash(shared: TestClient, rule_id: str, body: Any) -> None:
    _fuzz(shared, rule_id, body)


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=json_values | rule_like)
def test_fuzzed_bodies_never_crash_at_length(shared: TestClient, rule_id: str, body: Any) -> None:
    _fuzz(shared, rule_id, body)
