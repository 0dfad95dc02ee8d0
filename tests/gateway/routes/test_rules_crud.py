"""Rules CRUD over HTTP: defaults, reads, replace, merge patch, versions, optimistic concurrency, delete."""

from __future__ import annotations

from datetime import datetime

from fastapi.testclient import TestClient

from tests.gateway.conftest import ADMIN, CPU_RULE, create_rule, is_problem


def test_create_fills_the_contract_defaults(any_client: TestClient) -> None:
    rule = create_rule(any_client, ADMIN)
    assert rule["rule_id"] and rule["tenant"] == "default"
    assert rule["version"] == 1
    assert (rule["active"], rule["priority"], rule["severity"]) == (False, "P3", "medium")
    assert (rule["owner"], rule["backup_owner"], rule["conditions"], rule["suppression"]) == (None, None, None, None)
    assert rule["trigger_spec"] == CPU_RULE["trigger_spec"]
    assert rule["created_at"] == rule["updated_at"]
    assert rule["created_at"].endswith("Z")
    datetime.fromisoformat(rule["created_at"])


def test_create_minimal_body_has_empty_actions(client: TestClient) -> None:
    body = {"name": "n", "trigger_type": "event", "trigger_spec": {"event_type": "error"}}
    response = client.post("/cep/rules", headers=ADMIN, json=body)
    assert response.status_code == 201
    assert response.json()["action_spec"] == []
    assert response.headers["location"] == f"/cep/rules/{response.json()['rule_id']}"
    assert response.headers["etag"] == '"1"'


def test_get_returns_what_create_returned(any_client: TestClient) -> None:
    rule = create_rule(any_client, ADMIN)
    response = any_client.get(f"/cep/rules/{rule['rule_id']}", headers=ADMIN)
    assert response.status_code == 200
    assert response.json() == rule
    assert response.headers["etag"] == '"1"'


def test_invalid_create_names_the_field_path(client: TestClient) -> None:
    body = {**CPU_RULE, "trigger_spec": {**CPU_RULE["trigger_spec"], "threshold": "high"}}
    problem = is_problem(client.post("/cep/rules", headers=ADMIN, json=body), 422)
    assert ["trigger_spec", "threshold"] in [e["loc"] for e in problem["errors"]]
    assert "trigger_spec.threshold" in problem["detail"]


def test_missing_required_fields_are_each_named(client: TestClient) -> None:
    problem = is_problem(client.post("/cep/rules", headers=ADMIN, json={}), 422)
    locs = {tuple(e["loc"]) for e in problem["errors"]}
    assert {("name",), ("trigger_type",), ("trigger_spec",)} <= locs


def test_put_replaces_everything_and_bumps_the_version(any_client: TestClient) -> None:
    rule = create_rule(any_client, ADMIN, owner="sre", priority="P1")
    replacement = {
        "name": "cpu",
        "trigger_type": "metric",
        "trigger_spec": {"metric_name": "cpu", "operator": "<", "threshold": 5},
    }
    response = any_client.put(f"/cep/rules/{rule['rule_id']}", headers=ADMIN, json=replacement)
    assert response.status_code == 200, response.text
    new = response.json()
    assert new["version"] == 2
    assert (new["owner"], new["priority"], new["action_spec"]) == (None, "P3", [])  # unset fields return to defaults
    assert new["created_at"] == rule["created_at"]
    assert new["updated_at"] >= rule["updated_at"]


def test_put_accepts_a_body_read_back_from_get(client: TestClient) -> None:
    rule = create_rule(client, ADMIN)
    rule["threshold_note"] = None
    del rule["threshold_note"]
    rule["active"] = True
    response = client.put(f"/cep/rules/{rule['rule_id']}", headers=ADMIN, json=rule)  # includes version 1
    assert response.status_code == 200, response.text
    assert response.json()["active"] is True


def test_patch_is_a_json_merge_patch(any_client: TestClient) -> None:
    rule = create_rule(any_client, ADMIN)
    patch = {"active": True, "trigger_spec": {"threshold": 90, "duration": None}, "description": None}
    response = any_client.patch(f"/cep/rules/{rule['rule_id']}", headers=ADMIN, json=patch)
    assert response.status_code == 200, response.text
    new = response.json()
    assert new["active"] is True
    assert new["trigger_spec"] == {"metric_name": "cpu_usage", "operator": ">", "threshold": 90}
    assert new["description"] is None
    assert new["action_spec"] == rule["action_spec"]
    assert new["version"] == 2


def test_patch_revalidates_the_merged_rule(client: TestClient) -> None:
    rule = create_rule(client, ADMIN)
    problem = is_problem(client.patch(f"/cep/rules/{rule['rule_id']}", headers=ADMIN, json={"name": None}), 422)
    assert problem["errors"][0]["loc"] == ["name"]
    problem = is_problem(
        client.patch(f"/cep/rules/{rule['rule_id']}", headers=ADMIN, json={"trigger_spec": {"operator": "=>"}}), 422
    )
    assert problem["errors"][0]["loc"] == ["trigger_spec", "operator"]
    assert client.get(f"/cep/rules/{rule['rule_id']}", headers=ADMIN).json()["version"] == 1


def test_patch_changing_the_trigger_type_replaces_the_trigger_spec(client: TestClient) -> None:
    rule = create_rule(client, ADMIN)
    patch = {"trigger_type": "event", "trigger_spec": {"event_type": "error"}}
    response = client.patch(f"/cep/rules/{rule['rule_id']}", headers=ADMIN, json=patch)
    assert response.status_code == 200, response.text
    assert response.json()["trigger_spec"] == {"event_type": "error", "resolve_after": "5m", "notify_resolved": False}


def test_a_patch_that_changes_nothing_makes_no_version(client: TestClient) -> None:
    rule = create_rule(client, ADMIN)
    response = client.patch(f"/cep/rules/{rule['rule_id']}", headers=ADMIN, json={"name": rule["name"]})
    assert response.status_code == 200
    assert response.json()["version"] == 1


def test_stale_version_in_body_or_if_match_is_409(any_client: TestClient) -> None:
    rule = create_rule(any_client, ADMIN)
    url = f"/cep/rules/{rule['rule_id']}"
    assert any_client.patch(url, headers=ADMIN, json={"active": True, "version": 1}).status_code == 200
    problem = is_problem(any_client.patch(url, headers=ADMIN, json={"active": False, "version": 1}), 409)
    assert problem["errors"] == [{"loc": ["version"], "msg": "expected 2"}]
    is_problem(any_client.patch(url, headers={**ADMIN, "If-Match": '"1"'}, json={"active": False}), 409)
    is_problem(any_client.put(url, headers={**ADMIN, "If-Match": "1"}, json=CPU_RULE), 409)
    is_problem(any_client.delete(url, headers={**ADMIN, "If-Match": 'W/"1"'}), 409)
    response = any_client.patch(url, headers={**ADMIN, "If-Match": '"2"'}, json={"active": False})
    assert response.status_code == 200
    assert response.json()["version"] == 3
    assert any_client.patch(url, headers={**ADMIN, "If-Match": "*"}, json={"active": True}).status_code == 200


def test_malformed_versions_are_422_naming_them(client: TestClient) -> None:
    rule = create_rule(client, ADMIN)
    url = f"/cep/rules/{rule['rule_id']}"
    for version in ("1", True, 1.5, -1, [1], {"v": 1}):
        problem = is_problem(client.patch(url, headers=ADMIN, json={"version": version}), 422)
        assert problem["errors"][0]["loc"] == ["version"]
    problem = is_problem(client.patch(url, headers={**ADMIN, "If-Match": "abc"}, json={}), 422)
    assert problem["errors"][0]["loc"] == ["If-Match"]


def test_names_are_unique_per_tenant_among_live_rules(any_client: TestClient) -> None:
    first = create_rule(any_client, ADMIN)
    problem = is_problem(any_client.post("/cep/rules", headers=ADMIN, json=CPU_RULE), 409)
    assert problem["errors"][0]["loc"] == ["name"]
    other = create_rule(any_client, ADMIN, name="other")
    is_problem(any_client.patch(f"/cep/rules/{other['rule_id']}", headers=ADMIN, json={"name": CPU_RULE["name"]}), 409)
    assert any_client.delete(f"/cep/rules/{first['rule_id']}", headers=ADMIN).status_code == 204
    create_rule(any_client, ADMIN)  # the deleted rule's name is free again


def test_delete_hides_the_rule_everywhere(any_client: TestClient) -> None:
    rule = create_rule(any_client, ADMIN)
    url = f"/cep/rules/{rule['rule_id']}"
    response = any_client.delete(url, headers=ADMIN)
    assert response.status_code == 204
    assert response.content == b""
    is_problem(any_client.get(url, headers=ADMIN), 404)
    is_problem(any_client.delete(url, headers=ADMIN), 404)
    is_problem(any_client.patch(url, headers=ADMIN, json={"active": True}), 404)
    is_problem(any_client.get(f"{url}/versions", headers=ADMIN), 404)
    assert any_client.get("/cep/rules", headers=ADMIN).json()["total"] == 0


def test_versions_are_listed_newest_first_with_the_full_rule(any_client: TestClient) -> None:
    rule = create_rule(any_client, ADMIN)
    url = f"/cep/rules/{rule['rule_id']}"
    any_client.patch(url, headers=ADMIN, json={"trigger_spec": {"threshold": 90}})
    any_client.put(url, headers=ADMIN, json={**CPU_RULE, "priority": "P1"})
    page = any_client.get(f"{url}/versions", headers=ADMIN).json()
    assert page["total"] == 3
    assert [v["version"] for v in page["items"]] == [3, 2, 1]
    assert [v["change"] for v in page["items"]] == ["replaced", "patched", "created"]
    # A version is the rule as written; the rule's error state (error_count, ...) is not versioned.
    unversioned = {"error_count": 0, "last_error": None, "last_error_at": None}
    assert {**page["items"][2]["rule"], **unversioned} == rule
    assert page["items"][1]["rule"]["trigger_spec"]["threshold"] == 90
    assert {**page["items"][0]["rule"], **unversioned} == any_client.get(url, headers=ADMIN).json()
    assert page["items"][0]["actor"] == {"token_id": "platform-admin", "name": "platform-admin"}
    first = any_client.get(f"{url}/versions?limit=2", headers=ADMIN).json()
    assert [v["version"] for v in first["items"]] == [3, 2]
    rest = any_client.get(f"{url}/versions?limit=2&cursor={first['next_cursor']}", headers=ADMIN).json()
    assert [v["version"] for v in rest["items"]] == [1]
    assert rest["next_cursor"] is None


def test_unknown_and_malformed_ids_are_404(client: TestClient) -> None:
    for rule_id in ("nope", "0" * 32, "%20", "a" * 500, "ünïcode", "1;DROP TABLE rules"):
        is_problem(client.get(f"/cep/rules/{rule_id}", headers=ADMIN), 404)
        is_problem(client.put(f"/cep/rules/{rule_id}", headers=ADMIN, json=CPU_RULE), 404)
        is_problem(client.patch(f"/cep/rules/{rule_id}", headers=ADMIN, json={}), 404)
        is_problem(client.delete(f"/cep/rules/{rule_id}", headers=ADMIN), 404)
        is_problem(client.post(f"/cep/rules/{rule_id}/simulate", headers=ADMIN, json={"payload": {}}), 404)


def test_a_cron_that_never_fires_is_a_422_naming_it(client: TestClient) -> None:
    never = {"name": "leap", "trigger_type": "schedule", "trigger_spec": {"cron": "0 0 30 2 *"}}
    problem = is_problem(client.post("/cep/rules", headers=ADMIN, json=never), 422)
    assert [e["loc"] for e in problem["errors"]] == [["trigger_spec", "cron"]]
    assert "never fires" in problem["errors"][0]["msg"]
    rule = create_rule(client, ADMIN, name="monthly", trigger_type="schedule", trigger_spec={"cron": "0 0 1 * *"})
    patch = {"trigger_spec": {"cron": "0 0 31 4 *"}}
    problem = is_problem(client.patch(f"/cep/rules/{rule['rule_id']}", headers=ADMIN, json=patch), 422)
    assert [e["loc"] for e in problem["errors"]] == [["trigger_spec", "cron"]]
