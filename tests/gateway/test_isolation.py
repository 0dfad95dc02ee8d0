"""Tenant isolation: tenant B never sees, changes or learns about tenant A's rules, tokens or audit rows."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.gateway.conftest import CPU_RULE, create_rule, is_problem, mint


def test_another_tenants_rule_is_404_everywhere(any_client: TestClient) -> None:
    alice = mint(any_client, "alice", "admin")
    bob = mint(any_client, "bob", "admin")
    rule = create_rule(any_client, alice)
    url = f"/cep/rules/{rule['rule_id']}"
    assert rule["tenant"] == "alice"

    assert any_client.get("/cep/rules", headers=bob).json() == {"items": [], "total": 0, "next_cursor": None}
    is_problem(any_client.get(url, headers=bob), 404)
    is_problem(any_client.get(f"{url}/versions", headers=bob), 404)
    is_problem(any_client.get(f"{url}/simulations", headers=bob), 404)
    is_problem(any_client.post(f"{url}/simulate", headers=bob, json={"payload": {"cpu_usage": 99}}), 404)
    is_problem(any_client.patch(url, headers=bob, json={"active": True}), 404)
    is_problem(any_client.put(url, headers=bob, json=CPU_RULE), 404)
    is_problem(any_client.delete(url, headers=bob), 404)

    unchanged = any_client.get(url, headers=alice).json()
    assert unchanged == rule
    assert any_client.get(f"{url}/simulations", headers=alice).json()["count"] == 0


def test_names_are_unique_per_tenant_not_globally(any_client: TestClient) -> None:
    create_rule(any_client, mint(any_client, "alice", "editor"))
    create_rule(any_client, mint(any_client, "bob", "editor"))  # same name, other tenant: fine


def test_audit_is_tenant_scoped(any_client: TestClient) -> None:
    alice = mint(any_client, "alice", "admin")
    bob = mint(any_client, "bob", "admin")
    rule = create_rule(any_client, alice)
    alice_log = any_client.get("/cep/audit", headers=alice).json()["items"]
    assert rule["rule_id"] in [e["resource_id"] for e in alice_log]
    bob_log = any_client.get("/cep/audit", headers=bob).json()["items"]
    assert rule["rule_id"] not in [e["resource_id"] for e in bob_log]
    assert all(e["tenant"] == "bob" for e in bob_log)
    filtered = any_client.get(f"/cep/audit?resource_id={rule['rule_id']}", headers=bob).json()
    assert filtered["total"] == 0


def test_a_token_cannot_choose_its_tenant_by_header_or_body(any_client: TestClient) -> None:
    bob = mint(any_client, "bob", "editor")
    rule = create_rule(any_client, {**bob, "X-Tenant": "alice", "X-CEP-Tenant": "alice"}, tenant="alice")
    assert rule["tenant"] == "bob"
    listed = any_client.get("/cep/rules?tenant=alice", headers={**bob, "X-Tenant": "alice"}).json()
    assert [r["tenant"] for r in listed["items"]] == ["bob"]
