"""`/cep/settings`: team policies off by default, changed only by the tenant's admins, versioned and audited."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from services.gateway.state import state_of
from tests.gateway.conftest import is_problem, mint

OFF = {
    "min_simulations_before_activation": None,
    "require_channel_test": False,
    "p1_requires_owner_and_backup": False,
    "anomaly_requires_ready_baseline": False,
    "ack_sla": None,
}


def _tenant() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def test_policies_are_off_until_an_admin_sets_them(any_client: TestClient) -> None:
    tenant = _tenant()
    viewer, editor, admin = (mint(any_client, tenant, role) for role in ("viewer", "editor", "admin"))
    fresh = any_client.get("/cep/settings", headers=viewer).json()
    assert fresh["policies"] == OFF and fresh["version"] == 0 and fresh["updated_by"] is None

    body = {"policies": {"min_simulations_before_activation": 3, "p1_requires_owner_and_backup": True}}
    is_problem(any_client.put("/cep/settings", headers=editor, json=body), 403)
    is_problem(any_client.patch("/cep/settings", headers=viewer, json=body), 403)
    put = any_client.put("/cep/settings", headers=admin, json=body)
    assert put.status_code == 200, put.text
    assert put.json()["policies"] == {**OFF, **body["policies"]} and put.json()["version"] == 1

    patched = any_client.patch(
        "/cep/settings",
        headers=admin,
        json={"policies": {"require_channel_test": True, "p1_requires_owner_and_backup": None}},
    ).json()
    assert patched["version"] == 2
    assert patched["policies"] == {**OFF, "min_simulations_before_activation": 3, "require_channel_test": True}
    assert any_client.get("/cep/settings", headers=viewer).json() == patched
    # the same values again: no new version
    assert (
        any_client.patch("/cep/settings", headers=admin, json={"policies": {"require_channel_test": True}}).json()[
            "version"
        ]
        == 2
    )

    # another tenant still has every policy off
    assert any_client.get("/cep/settings", headers=mint(any_client, _tenant(), "viewer")).json()["policies"] == OFF


def test_changes_are_audited_and_versions_guard_them(client: TestClient) -> None:
    tenant = _tenant()
    admin = mint(client, tenant, "admin", name="alice")
    first = client.put("/cep/settings", headers=admin, json={"version": 0, "policies": {"require_channel_test": True}})
    assert first.status_code == 200, first.text
    stale = client.put("/cep/settings", headers=admin, json={"version": 0, "policies": {}})
    assert is_problem(stale, 409)["errors"][0]["loc"] == ["version"]
    guarded = client.patch(
        "/cep/settings", headers={**admin, "If-Match": '"1"'}, json={"policies": {"ack_sla": {"P1": "5m"}}}
    )
    assert guarded.status_code == 200 and guarded.json()["version"] == 2
    entries = client.get("/cep/audit?resource=setting", headers=admin).json()["items"]
    assert [e["action"] for e in entries] == ["patched", "replaced"]
    assert entries[0]["change"] == {
        "policies.ack_sla": {"before": None, "after": {"P1": "5m"}},
        "version": {"before": 1, "after": 2},
    }
    assert entries[1]["change"]["policies.require_channel_test"] == {"before": False, "after": True}
    assert {e["actor"]["name"] for e in entries} == {"alice"} and entries[0]["resource_id"] == "policies"


def test_bad_settings_are_422_naming_the_field(client: TestClient) -> None:
    admin = mint(client, _tenant(), "admin")
    cases = [
        ({"policies": {"min_simulations_before_activation": 0}}, ["policies", "min_simulations_before_activation"]),
        ({"policies": {"require_channel_test": "maybe"}}, ["policies", "require_channel_test"]),
        ({"policies": {"ack_sla": {"P9": "5m"}}}, ["policies", "ack_sla"]),
        ({"policies": {"ack_sla": {"P1": "soon"}}}, ["policies", "ack_sla"]),
        ({"policies": {"simulate_twice": True}}, ["policies", "simulate_twice"]),
        ({"polices": {}}, ["polices"]),
        ({"version": "one", "policies": {}}, ["version"]),
    ]
    for body, loc in cases:
        problem = is_problem(client.put("/cep/settings", headers=admin, json=body), 422)
        assert problem["errors"][0]["loc"] == loc, (body, problem)
    is_problem(client.patch("/cep/settings", headers=admin, json=[1]), 422)
    assert client.get("/cep/settings", headers=admin).json()["version"] == 0


def test_a_tenant_ack_sla_overrides_the_platform_one(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from services.gateway.app import create_app
    from tests.gateway.conftest import settings_for

    with TestClient(create_app(settings_for(tmp_path, ack_sla="P1=15m,P2=1h"))) as client:
        tenant = _tenant()
        admin = mint(client, tenant, "admin")
        assert client.get("/cep/settings", headers=admin).json()["ack_sla"] == {"P1": "15m", "P2": "1h"}
        client.patch("/cep/settings", headers=admin, json={"policies": {"ack_sla": {"P1": "5m", "P3": "2h"}}})
        assert client.get("/cep/settings", headers=admin).json()["ack_sla"] == {"P1": "5m", "P3": "2h"}
        source = state_of(client.app).ack_sla.sla_for
        assert client.portal.call(source, tenant).limits == {"P1": 300.0, "P3": 7200.0}  # type: ignore[union-attr]
        assert client.portal.call(source, "default").limits == {"P1": 900.0, "P2": 3600.0}  # type: ignore[union-attr]
