"""The OpenAPI document: OpenAPI 3.1, every mounted route, request bodies of hand-parsed routes, no dangling refs."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator
from starlette.routing import Route

METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}
# Routes that read their JSON body themselves (and so must describe it through openapi_extra).
HAND_PARSED = [
    ("post", "/cep/rules"),
    ("put", "/cep/rules/{rule_id}"),
    ("patch", "/cep/rules/{rule_id}"),
    ("post", "/cep/rules/preview"),
    ("post", "/cep/rules/form"),
    ("post", "/cep/rules/simulate"),
    ("post", "/cep/rules/{rule_id}/simulate"),
    ("post", "/cep/auth/tokens"),
]


@pytest.fixture
def document(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


def test_the_document_is_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1")
    assert document["info"]["title"] and document["info"]["version"]
    assert isinstance(document["paths"], dict) and document["paths"]
    for path, item in document["paths"].items():
        assert path.startswith("/")
        for method, operation in item.items():
            assert method in METHODS | {"parameters", "summary", "description"}, (path, method)
            if method in METHODS:
                assert operation["responses"], (path, method)
                for status in operation["responses"]:
                    assert status == "default" or (len(status) == 3 and status[0] in "12345"), (path, status)
                for parameter in operation.get("parameters", []):
                    assert parameter["in"] in {"query", "header", "path", "cookie"}
                    assert "name" in parameter and ("schema" in parameter or "content" in parameter)


def test_every_schema_is_valid_json_schema_2020_12(document: dict[str, Any]) -> None:
    for schema in document["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)  # raises SchemaError naming the problem


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for ref in _refs(document):
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.removeprefix("#/components/schemas/") in schemas, ref


def test_every_mounted_route_is_described(client: TestClient, document: dict[str, Any]) -> None:
    mounted = {
        (method.lower(), route.path)
        for route in client.app.routes  # type: ignore[attr-defined]
        if isinstance(route, Route) and route.path not in {"/openapi.json"}
        for method in (route.methods or set()) - {"HEAD"}
    }
    described = {(m, p) for p, item in document["paths"].items() for m in item if m in METHODS}
    assert mounted - described == set()
    for needed in [("get", "/healthz"), ("get", "/readyz"), ("get", "/metrics"), *HAND_PARSED]:
        assert needed in described


@pytest.mark.parametrize(("method", "path"), HAND_PARSED)
def test_hand_parsed_bodies_are_described(document: dict[str, Any], method: str, path: str) -> None:
    body = document["paths"][path][method]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    name = schema["$ref"].removeprefix("#/components/schemas/")
    assert document["components"]["schemas"][name]["type"] == "object"


def test_rule_schemas_carry_the_contract_fields(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    spec = schemas["RuleSpec"]
    assert set(spec["required"]) == {"name", "trigger_type", "trigger_spec"}
    rule = schemas["Rule"]
    assert {"rule_id", "tenant", "version", "created_at", "updated_at"} <= set(rule["properties"])
    assert document["paths"]["/cep/rules"]["post"]["responses"]["201"]["content"]["application/json"]["schema"]
    problem = document["paths"]["/cep/rules"]["get"]["responses"]["422"]["content"]["application/problem+json"]
    assert problem["schema"]["$ref"].endswith("/ProblemDetails")


def test_bearer_security_is_declared(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert any(s.get("scheme", "").lower() == "bearer" for s in schemes.values())
    assert document["paths"]["/cep/rules"]["get"].get("security")
    assert not document["paths"]["/healthz"]["get"].get("security")
