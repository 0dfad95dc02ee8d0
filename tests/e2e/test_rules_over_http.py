"""The Rules API over HTTP against `cep up`: Labs 5, 8 and 11, the contract's bad-input cases, tenants and roles."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.support.labs import LAB1_RULE, LAB5_RULE, LAB8_FORM
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e


def nodes(tree: list[dict]) -> list[dict]:
    out = []
    for node in tree:
        out.append(node)
        out.extend(nodes(node.get("conditions", [])))
    return out


def problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"]
    return body


@pytest.fixture(scope="module")
def api(stack: Stack) -> httpx.Client:
    with stack.client() as client:
        yield client


def test_lab5_every_node_of_a_composite_condition_is_explained(api: httpx.Client) -> None:
    cases = [
        ({"cpu_percent": 85, "cpu": 85, "memory": 75, "disk": 10}, True),
        ({"cpu_percent": 85, "cpu": 85, "memory": 60, "disk": 95}, True),
        ({"cpu_percent": 85, "cpu": 50, "memory": 75, "disk": 50}, False),
    ]
    for payload, matched in cases:
        body = api.post("/cep/rules/simulate", json={"rule": LAB5_RULE, "payload": payload}).json()
        assert body["matched"] is matched, body
        explained = {n["expr"]: n for n in nodes(body["conditions"])}
        for leaf, field in (("cpu > 80", "cpu"), ("memory > 70", "memory"), ("disk > 90", "disk")):
            assert explained[leaf]["value"] == payload[field]
            assert explained[leaf]["result"] is (payload[field] > int(leaf.split()[-1]))
        groups = [n for n in nodes(body["conditions"]) if n.get("logic") in ("AND", "OR")]
        assert {g["logic"] for g in groups} == {"AND", "OR"}
        assert all("result" in n for n in nodes(body["conditions"]))


def test_lab5_missing_field_is_reported_not_silently_false(api: httpx.Client) -> None:
    body = api.post("/cep/rules/simulate", json={"rule": LAB5_RULE, "payload": {"cpu_percent": 90, "cpu": 90}}).json()
    assert body["matched"] is False
    assert any("memory" in e for e in body["errors"]), body["errors"]


def test_lab8_and_lab11_preview_form_and_stored_rule_agree(api: httpx.Client) -> None:
    form = {**LAB8_FORM, "name": f"lab8-{uuid.uuid4().hex[:6]}"}
    preview = api.post("/cep/rules/preview", json=form)
    assert preview.status_code == 200, preview.text
    assert preview.json()["errors"] == []
    created = api.post("/cep/rules/form", json=form)
    assert created.status_code == 201, created.text
    stored = api.get(f"/cep/rules/{created.json()['rule_id']}").json()
    for key in ("trigger_type", "trigger_spec", "conditions", "action_spec"):
        assert stored[key] == preview.json()["rule"][key] == created.json()[key], key
    assert stored["trigger_spec"]["event_type"] == "error"
    assert stored["conditions"]["logic"] == "AND"
    assert stored["active"] is False and stored["version"] == 1
    for payload, matched in (
        ({"event_type": "error", "severity": "critical", "service": "api-gateway"}, True),
        ({"event_type": "error", "severity": "warning", "service": "api-gateway"}, False),
    ):
        sim = api.post(f"/cep/rules/{stored['rule_id']}/simulate", json={"payload": payload}).json()
        assert sim["matched"] is matched


def test_lab1_simulate_shows_the_actions_that_would_run(api: httpx.Client) -> None:
    body = api.post(
        "/cep/rules/simulate",
        json={"rule": LAB1_RULE, "payload": {"cpu_usage": 92, "host": "gt-01", "severity": "high"}},
    ).json()
    assert body["matched"] is True
    assert body["actions"] == [{"type": "notify", "channel": "slack-ops", "rendered_message": "CPU threshold exceeded"}]


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (
            {
                "name": "x",
                "trigger_type": "metric",
                "trigger_spec": {"metric_name": "c", "operator": ">", "threshold": "hi"},
            },
            "trigger_spec.threshold",
        ),
        (
            {
                "name": "x",
                "trigger_type": "metric",
                "trigger_spec": {"metric_name": "c", "operator": "~", "threshold": 1},
            },
            "trigger_spec.operator",
        ),
        ({"name": "x", "trigger_type": "nope", "trigger_spec": {}}, "trigger_type"),
        ({"trigger_type": "event", "trigger_spec": {"event_type": "e"}}, "name"),
        (
            {"name": "x", "trigger_type": "event", "trigger_spec": {"event_type": "e", "resolve_after": "soon"}},
            "trigger_spec.resolve_after",
        ),
        ({"name": "x", "trigger_type": "schedule", "trigger_spec": {"cron": "every day"}}, "trigger_spec.cron"),
        (
            {
                "name": "x",
                "trigger_type": "event",
                "trigger_spec": {"event_type": "e"},
                "conditions": {"logic": "AND", "conditions": [{"field": "a", "op": "in", "value": 1}]},
            },
            "conditions.conditions.0.value",
        ),
    ],
)
def test_bad_rules_are_422_naming_the_field(api: httpx.Client, body: dict, path: str) -> None:
    found = problem(api.post("/cep/rules", json=body), 422)
    assert path in [".".join(str(p) for p in e["loc"]) for e in found["errors"]], found
    assert path in found["detail"]


def test_other_bad_input_cases_of_the_contract(api: httpx.Client, stack: Stack) -> None:
    problem(api.post("/cep/rules", content=b"{not json", headers={"content-type": "application/json"}), 400)
    problem(
        api.post("/cep/rules", content=b"[" + b"1," * 600_000 + b"1]", headers={"content-type": "application/json"}),
        413,
    )
    problem(api.get("/cep/rules/does-not-exist"), 404)
    problem(api.get("/cep/rules/../../etc"), 404)
    problem(httpx.get(f"{stack.url}/cep/rules"), 401)
    problem(httpx.get(f"{stack.url}/cep/rules", headers={"Authorization": "Bearer wrong"}), 401)
    rule = api.post(
        "/cep/rules",
        json={"name": f"v-{uuid.uuid4().hex[:6]}", "trigger_type": "event", "trigger_spec": {"event_type": "e"}},
    ).json()
    assert api.patch(f"/cep/rules/{rule['rule_id']}", json={"severity": "high", "version": 1}).json()["version"] == 2
    problem(api.patch(f"/cep/rules/{rule['rule_id']}", json={"severity": "low", "version": 1}), 409)
    problem(api.patch(f"/cep/rules/{rule['rule_id']}", json={"severity": "low"}, headers={"If-Match": "1"}), 409)
    problem(api.get("/cep/rules", params={"limit": "lots"}), 422)
    for junk in (b"null", b"[]", b'"text"', b"123", b'{"name": {"deep": [1, {"x": null}]}}'):
        response = api.post("/cep/rules", content=junk, headers={"content-type": "application/json"})
        assert response.status_code in (400, 422), (junk, response.text)


def test_tenants_are_isolated_and_roles_enforced(api: httpx.Client, stack: Stack) -> None:
    tenant_a, tenant_b = f"a-{uuid.uuid4().hex[:6]}", f"b-{uuid.uuid4().hex[:6]}"
    tokens = {}
    for tenant in (tenant_a, tenant_b):
        for role in ("viewer", "editor", "admin"):
            minted = api.post("/cep/auth/tokens", json={"tenant": tenant, "role": role, "name": f"{tenant}-{role}"})
            assert minted.status_code == 201, minted.text
            tokens[tenant, role] = minted.json()["token"]
    with stack.client(tokens[tenant_a, "editor"]) as a_editor, stack.client(tokens[tenant_b, "admin"]) as b_admin:
        rule = a_editor.post(
            "/cep/rules",
            json={"name": "secret-rule", "trigger_type": "event", "trigger_spec": {"event_type": "canary-a"}},
        )
        assert rule.status_code == 201 and rule.json()["tenant"] == tenant_a
        rule_id = rule.json()["rule_id"]
        problem(b_admin.get(f"/cep/rules/{rule_id}"), 404)
        problem(b_admin.patch(f"/cep/rules/{rule_id}", json={"severity": "low"}), 404)
        problem(b_admin.delete(f"/cep/rules/{rule_id}"), 404)
        problem(b_admin.get(f"/cep/rules/{rule_id}/versions"), 404)
        problem(b_admin.post(f"/cep/rules/{rule_id}/simulate", json={"payload": {}}), 404)
        assert "canary-a" not in b_admin.get("/cep/rules").text
        assert "canary-a" not in b_admin.get("/cep/audit").text
        problem(b_admin.post("/cep/auth/tokens", json={"tenant": tenant_a, "role": "admin", "name": "x"}), 403)
    with stack.client(tokens[tenant_a, "viewer"]) as viewer:
        assert viewer.get(f"/cep/rules/{rule_id}").status_code == 200
        problem(
            viewer.post("/cep/rules", json={"name": "v", "trigger_type": "event", "trigger_spec": {"event_type": "e"}}),
            403,
        )
        problem(viewer.delete(f"/cep/rules/{rule_id}"), 403)
    with stack.client(tokens[tenant_a, "editor"]) as editor:
        problem(editor.post("/cep/auth/tokens", json={"tenant": tenant_a, "role": "viewer", "name": "x"}), 403)
        assert editor.delete(f"/cep/rules/{rule_id}").status_code == 204
        problem(editor.get(f"/cep/rules/{rule_id}"), 404)
