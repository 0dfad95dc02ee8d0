"""Pattern rules over HTTP: create, 422 naming the step field, the form preview with step rows, OpenAPI."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.gateway.conftest import ADMIN, is_problem

BRUTE_FORCE: dict[str, Any] = {
    "name": "brute_force_login",
    "trigger_type": "pattern",
    "trigger_spec": {
        "steps": [
            {"name": "fail", "event_type": "login.failed", "times": {"min": 5}},
            {"name": "ok", "event_type": "login.succeeded"},
        ],
        "within": "2m",
        "same": ["user"],
    },
}


def test_a_pattern_rule_is_created_and_read_back(client: TestClient) -> None:
    created = client.post("/cep/rules", headers=ADMIN, json=BRUTE_FORCE)
    assert created.status_code == 201, created.text
    rule = client.get(f"/cep/rules/{created.json()['rule_id']}", headers=ADMIN).json()
    assert rule["trigger_type"] == "pattern"
    assert rule["trigger_spec"]["steps"][0] == {
        "name": "fail",
        "event_type": "login.failed",
        "times": {"min": 5},
        "negate": False,
    }
    listed = client.get("/cep/rules", headers=ADMIN, params={"trigger_type": "pattern"}).json()["items"]
    assert [r["rule_id"] for r in listed] == [rule["rule_id"]]


def test_a_bad_step_is_a_422_naming_its_field(client: TestClient) -> None:
    bad = {**BRUTE_FORCE, "trigger_spec": {**BRUTE_FORCE["trigger_spec"], "steps": [{"name": "a", "event_type": "x"}]}}
    bad["trigger_spec"]["steps"] = [
        {"name": "a", "event_type": "x"},
        {"name": "b", "event_type": "y", "times": {"min": 0}},
    ]
    problem = is_problem(client.post("/cep/rules", headers=ADMIN, json=bad), 422)
    assert [e["loc"] for e in problem["errors"]] == [["trigger_spec", "steps", 1, "times", "min"]]


def test_the_form_preview_reads_step_rows(client: TestClient) -> None:
    form = {
        "name": "unpaid",
        "trigger_type": "pattern",
        "trigger": {
            "steps": [
                {
                    "name": "placed",
                    "event_type": "order.placed",
                    "conditions": [{"field": "total", "op": ">", "value": "10"}],
                },
                {"name": "paid", "event_type": "payment.received", "negate": "true"},
                {"name": "", "event_type": ""},
            ],
            "within": "15m",
            "same": "order_id",
        },
    }
    answer = client.post("/cep/rules/preview", headers=ADMIN, json=form).json()
    assert answer["errors"] == []
    assert answer["summary"] == "order.placed (total > 10) then not payment.received within 15m, same order_id"


def test_openapi_documents_the_pattern_trigger(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    spec = schemas["RuleSpec"]["properties"]["trigger_spec"]["anyOf"]
    pattern = next(s["$ref"].rsplit("/", 1)[1] for s in spec if "PatternTrigger" in s["$ref"])
    assert {"steps", "within", "same", "contiguity", "skip"} <= set(schemas[pattern]["properties"])
