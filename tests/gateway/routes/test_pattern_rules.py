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


def _logins(user: str, fails: int, start: int = 0) -> list[dict[str, Any]]:
    times = [f"2026-01-01T00:00:{start + n:02d}Z" for n in range(fails + 1)]
    out: list[dict[str, Any]] = [{"event_type": "login.failed", "user": user, "timestamp": t} for t in times[:-1]]
    return [*out, {"event_type": "login.succeeded", "user": user, "timestamp": times[-1]}]


def test_simulating_a_draft_pattern_explains_each_key_and_payload(client: TestClient) -> None:
    payloads = [*_logins("ann", 5), *_logins("bob", 2, start=10)]
    answer = client.post("/cep/rules/simulate", headers=ADMIN, json={"rule": BRUTE_FORCE, "payloads": payloads})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [r["state"] for r in body["results"]][5] == "firing"
    assert [t["kind"] for t in body["transitions"]] == ["fired"]
    pattern = body["pattern"]
    (match,) = pattern["matches"]
    assert match["group_key"] == "user=ann"
    assert [[e["index"] for e in step["events"]] for step in match["chain"]] == [[0, 1, 2, 3, 4], [5]]
    # bob failed twice and succeeded: his partials stand at `fail`, two failures taken, none complete
    assert {p["step"] for p in pattern["partials"]["user=bob"]} == {"fail"}
    assert max(p["count"] for p in pattern["partials"]["user=bob"]) == 2
    bob_success = [line for line in pattern["trace"] if line.get("index") == 8]
    assert {line["outcome"] for line in bob_success} >= {"kept"}
    assert all("not 'login.succeeded'" in line["reason"] for line in bob_success)


def test_simulating_a_stored_pattern_rule(client: TestClient) -> None:
    rule_id = client.post("/cep/rules", headers=ADMIN, json=BRUTE_FORCE).json()["rule_id"]
    answer = client.post(f"/cep/rules/{rule_id}/simulate", headers=ADMIN, json={"payloads": _logins("ann", 5)})
    assert answer.status_code == 200, answer.text
    assert answer.json()["matched"] is True
    assert answer.json()["pattern"]["matches"][0]["payload"]["matched"]["ok"][0]["user"] == "ann"
