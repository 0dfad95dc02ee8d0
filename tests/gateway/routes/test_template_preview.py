"""POST /cep/templates/preview: render against the sample event, the caller's fields, or a stored rule."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from services.common.domain.notify.template_preview import SAMPLE_EVENT
from tests.gateway.conftest import CPU_RULE, create_rule, is_problem, mint

URL = "/cep/templates/preview"


def _viewer(client: TestClient) -> dict[str, str]:
    return mint(client, f"t-{uuid.uuid4().hex[:10]}", "viewer")


def test_the_sample_event_renders_every_contract_field(client: TestClient) -> None:
    template = (
        "{{ rule_name }} {{ severity }} {{ status }} {{ group_key }} {{ summary }} {{ fired_at }} x{{ count }} "
        "{{ payload.host }} {{ event.event_id }} {{ rule.name }} {{ event_id }} {{ rule_id }}"
    )
    answer = client.post(URL, headers=_viewer(client), json={"template": template})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "ok": True,
        "rendered": "sample_rule high open host=web-01 cpu_usage > 85 for 5m 2026-01-01T12:00:00Z x1 "
        "web-01 sample-event sample_rule sample-event sample-rule",
    }


def test_event_fields_replace_the_sample(client: TestClient) -> None:
    body = {
        "template": "{{ payload.cpu }} on {{ payload.host }} ({{ severity }})",
        "event": {"payload": {"cpu": 97, "host": "db-2"}, "severity": "critical"},
    }
    answer = client.post(URL, headers=_viewer(client), json=body).json()
    assert answer == {"ok": True, "rendered": "97 on db-2 (critical)"}


def test_a_missing_variable_is_a_template_error(client: TestClient) -> None:
    answer = client.post(URL, headers=_viewer(client), json={"template": "{{ payload.nope }}"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["ok"] is False and body["error"]["kind"] == "template" and "nope" in body["error"]["detail"]
    syntax = client.post(URL, headers=_viewer(client), json={"template": "{% if %}"}).json()
    assert syntax["ok"] is False and syntax["error"]["detail"].startswith("syntax error at line 1")
    sandbox = client.post(URL, headers=_viewer(client), json={"template": "{{ ''.__class__.__mro__ }}"}).json()
    assert sandbox["ok"] is False and sandbox["error"]["kind"] == "template"


def test_a_stored_rule_fills_the_rule_fields(client: TestClient) -> None:
    editor = mint(client, f"t-{uuid.uuid4().hex[:10]}", "editor")
    rule = create_rule(client, editor, severity="critical", description="CPU alarm")
    body = {
        "template": "{{ rule.description }}: {{ rule_name }} [{{ severity }}] {{ rule_id }}",
        "rule_id": rule["rule_id"],
    }
    answer = client.post(URL, headers=editor, json=body).json()
    assert answer == {"ok": True, "rendered": f"CPU alarm: cpu_high_alert [critical] {rule['rule_id']}"}
    other_tenant = client.post(URL, headers=_viewer(client), json=body)
    is_problem(other_tenant, 404)


def test_bad_bodies_name_the_field(client: TestClient) -> None:
    viewer = _viewer(client)
    assert is_problem(client.post(URL, headers=viewer, json={}), 422)["errors"][0]["loc"] == ["template"]
    assert is_problem(client.post(URL, headers=viewer, json={"template": 3}), 422)["errors"][0]["loc"] == ["template"]
    bad_event = client.post(URL, headers=viewer, json={"template": "x", "event": []})
    assert is_problem(bad_event, 422)["errors"][0]["loc"] == ["event"]
    unknown = client.post(URL, headers=viewer, json={"template": "x", "rule": {}})
    assert is_problem(unknown, 422)["errors"][0]["loc"] == ["rule"]
    assert is_problem(client.post(URL, headers=viewer, json={"template": "x", "rule_id": 5}), 422)["errors"][0][
        "loc"
    ] == ["rule_id"]
    is_problem(client.post(URL, headers=viewer, content=b"{nope"), 400)
    is_problem(client.post(URL, json={"template": "x"}), 401)


def test_the_sample_is_the_documented_one_and_the_route_is_in_openapi(client: TestClient) -> None:
    assert SAMPLE_EVENT["event_id"] == "sample-event" and SAMPLE_EVENT["payload"] == {
        "host": "web-01",
        "cpu_usage": 92.5,
    }
    document = client.get("/openapi.json").json()
    operation = document["paths"][URL]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"]["required"] == ["template"]
    assert "200" in operation["responses"] and operation.get("security")


NESTED_LOOPS = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
DOUBLING = "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}"
SELF_CALLING = "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"


def test_a_template_over_its_budget_is_a_template_error(client: TestClient) -> None:
    viewer = _viewer(client)
    for template, detail in (
        (NESTED_LOOPS, "template exceeded its budget of 100000 loop iterations"),
        (DOUBLING, "a value larger than 1000000 characters or items"),
        (SELF_CALLING, "recursion deeper than 50"),
        ("{% for i in range(100000) %}{{ 'x' * 100000 }}{% endfor %}", "output larger than 1000000 characters"),
        ("{% for i in range(100000) %}{{ range(100000) | sum }}{% endfor %}", "render took longer than 1 s"),
    ):
        answer = client.post(URL, headers=viewer, json={"template": template})
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"ok": False, "error": {"kind": "template", "detail": detail}}


def _rule_with(message: str) -> dict[str, object]:
    return {**CPU_RULE, "action_spec": [{"type": "notify", "channel": "ops", "message": message}]}


def test_saving_a_rule_whose_template_does_not_parse_or_is_over_budget_is_a_422_naming_the_field(
    client: TestClient,
) -> None:
    editor = mint(client, f"t-{uuid.uuid4().hex[:10]}", "editor")
    for message, detail in (("{% if %}", "syntax error at line 1"), (NESTED_LOOPS, "loop iterations")):
        problem = is_problem(client.post("/cep/rules", headers=editor, json=_rule_with(message)), 422)
        assert problem["errors"][0]["loc"] == ["action_spec", 0, "message"]
        assert detail in problem["errors"][0]["msg"]
    rule = create_rule(client, editor, **_rule_with("{{ payload.not_in_the_sample }} {{ nothing }}"))  # not an error
    url = f"/cep/rules/{rule['rule_id']}"
    replaced = client.put(url, headers=editor, json=_rule_with(DOUBLING))
    assert is_problem(replaced, 422)["errors"][0]["loc"] == ["action_spec", 0, "message"]
    patched = client.patch(url, headers=editor, json={"action_spec": [{"type": "notify", "message": SELF_CALLING}]})
    assert is_problem(patched, 422)["errors"][0]["loc"] == ["action_spec", 0, "message"]
    form = {
        "name": "from-the-builder",
        "trigger_type": "event",
        "trigger": {"event_type": "deploy"},
        "actions": [{"type": "notify", "channel": "ops", "message": NESTED_LOOPS}],
    }
    assert is_problem(client.post("/cep/rules/form", headers=editor, json=form), 422)["errors"][0]["loc"] == [
        "action_spec",
        0,
        "message",
    ]
    assert client.get(url, headers=editor).json()["version"] == 1


def test_saving_a_channel_whose_body_template_is_over_budget_is_a_422_naming_the_field(client: TestClient) -> None:
    editor = mint(client, f"t-{uuid.uuid4().hex[:10]}", "editor")
    channel = {"name": "incidents", "type": "api_call", "config": {"url": "https://example.com/incidents"}}
    over = {**channel, "config": {**channel["config"], "method": "POST", "body": NESTED_LOOPS}}
    problem = is_problem(client.post("/cep/channels", headers=editor, json=over), 422)
    assert problem["errors"][0]["loc"] == ["config", "body"] and "loop iterations" in problem["errors"][0]["msg"]
    fine = {**channel, "config": {**channel["config"], "method": "POST", "body": "{{ payload.not_in_the_sample }}"}}
    created = client.post("/cep/channels", headers=editor, json=fine)
    assert created.status_code == 201, created.text
    replaced = client.put(f"/cep/channels/{created.json()['channel_id']}", headers=editor, json=over)
    assert is_problem(replaced, 422)["errors"][0]["loc"] == ["config", "body"]
