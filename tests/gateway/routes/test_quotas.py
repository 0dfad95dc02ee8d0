"""Per-tenant quotas on the gateway: the platform admin's overrides (SQL, audited, mirrored into `cep-quotas`),
each tenant's view of its quotas and usage, and the limits on rules and metric-polling targets."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import nats
from fastapi.testclient import TestClient
from nats.js.errors import KeyNotFoundError

from services.common.domain.quotas.tenant_quotas import TenantQuotas
from services.common.messages import codec
from services.common.nats import subjects
from services.gateway.app import create_app
from tests.gateway.conftest import ADMIN, CPU_RULE, create_rule, is_problem, mint, settings_for
from tests.support.nats import NatsServer

POLLING = "/cep/scheduler/metric-polling"


def _tenant() -> str:
    return f"q-{uuid.uuid4().hex[:10]}"


def _kv_entry(server: NatsServer, tenant: str) -> dict[str, Any] | None:
    async def read() -> dict[str, Any] | None:
        nc = await nats.connect(server.url)
        try:
            kv = await nc.jetstream().key_value(subjects.QUOTAS_BUCKET)
            return dict(codec.loads((await kv.get(tenant)).value or b"null"))
        except KeyNotFoundError:
            return None
        finally:
            await nc.close()

    return asyncio.run(read())


def _kv_delete(server: NatsServer, tenant: str) -> None:
    async def delete() -> None:
        nc = await nats.connect(server.url)
        try:
            await (await nc.jetstream().key_value(subjects.QUOTAS_BUCKET)).delete(tenant)
        finally:
            await nc.close()

    asyncio.run(delete())


def _set(client: TestClient, tenant: str, **quotas: Any) -> dict[str, Any]:
    response = client.put(f"/cep/admin/quotas/{tenant}", headers=ADMIN, json=quotas)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_only_the_platform_admin_reads_or_sets_a_tenants_quotas(client: TestClient) -> None:
    tenant = _tenant()
    for role in ("viewer", "editor", "admin"):
        headers = mint(client, tenant, role)
        is_problem(client.get(f"/cep/admin/quotas/{tenant}", headers=headers), 403)
        is_problem(client.put(f"/cep/admin/quotas/{tenant}", headers=headers, json={"rules": 99}), 403)
    is_problem(client.get(f"/cep/admin/quotas/{tenant}"), 401)
    assert client.get(f"/cep/admin/quotas/{tenant}", headers=ADMIN).json()["quotas"] == TenantQuotas().model_dump()


def test_overrides_merge_null_removes_one_and_every_change_is_audited(client: TestClient) -> None:
    tenant = _tenant()
    tenant_admin = mint(client, tenant, "admin")
    first = _set(client, tenant, rules=2, ingest_rate=50)
    assert first["overrides"] == {"rules": 2, "ingest_rate": 50.0}
    assert first["quotas"] == {**TenantQuotas().model_dump(), "rules": 2, "ingest_rate": 50.0}
    assert first["defaults"] == TenantQuotas().model_dump() and first["version"] == 1
    second = _set(client, tenant, rules=None, sse_streams=3)  # a subset: ingest_rate stays, rules goes back
    assert second["overrides"] == {"ingest_rate": 50.0, "sse_streams": 3} and second["version"] == 2
    assert second["quotas"]["rules"] == TenantQuotas().rules
    assert client.get(f"/cep/admin/quotas/{tenant}", headers=ADMIN).json() == second

    audit = client.get("/cep/audit", headers=tenant_admin, params={"resource": "quota"}).json()["items"]
    assert [a["action"] for a in audit] == ["changed", "changed"]
    assert audit[0]["actor"]["name"] == "platform-admin"
    assert audit[0]["change"]["quotas.rules"] == {"before": 2, "after": None}
    assert audit[0]["change"]["quotas.sse_streams"] == {"before": None, "after": 3}
    platform = client.get("/cep/audit", headers=ADMIN, params={"resource": "quota", "resource_id": tenant}).json()
    assert platform["total"] == 2  # the platform admin's own log shows it too


def test_bad_values_are_422_naming_the_field_and_change_nothing(client: TestClient) -> None:
    tenant = _tenant()
    mint(client, tenant, "viewer")
    _set(client, tenant, rules=5)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"rules": 0}, "rules"),
        ({"rules": "10"}, "rules"),
        ({"polling_targets": 2.5}, "polling_targets"),
        ({"sse_streams": True}, "sse_streams"),
        ({"ingest_rate": -1}, "ingest_rate"),
        ({"rules": 3, "series_per_rule": "many"}, "series_per_rule"),
        ({"rulez": 3}, "rulez"),
    ]
    for body, field in cases:
        problem = is_problem(client.put(f"/cep/admin/quotas/{tenant}", headers=ADMIN, json=body), 422)
        assert [e["loc"] for e in problem["errors"]] == [[field]], (body, problem)
        assert field in problem["detail"]
    is_problem(client.put(f"/cep/admin/quotas/{tenant}", headers=ADMIN, json=[1]), 422)
    is_problem(client.put(f"/cep/admin/quotas/{tenant}", headers=ADMIN, content=b"{"), 400)
    assert client.get(f"/cep/admin/quotas/{tenant}", headers=ADMIN).json()["overrides"] == {"rules": 5}


def test_an_unknown_or_malformed_tenant_is_404_or_422(client: TestClient) -> None:
    is_problem(client.get("/cep/admin/quotas/no-such-tenant-here", headers=ADMIN), 404)
    is_problem(client.put("/cep/admin/quotas/no-such-tenant-here", headers=ADMIN, json={"rules": 3}), 404)
    problem = is_problem(client.put("/cep/admin/quotas/Bad_Name", headers=ADMIN, json={"rules": 3}), 422)
    assert problem["errors"][0]["loc"] == ["tenant"]


def test_the_third_rule_past_a_quota_of_two_is_refused_naming_the_limit(client: TestClient) -> None:
    tenant = _tenant()
    editor = mint(client, tenant, "editor")
    _set(client, tenant, rules=2)
    create_rule(client, editor, name="one")
    create_rule(client, editor, name="two")
    refused = client.post("/cep/rules", headers=editor, json={**CPU_RULE, "name": "three"})
    problem = is_problem(refused, 429)
    assert problem["type"] == "urn:cep:problem:quota-exceeded"
    assert "rules" in problem["detail"] and "2" in problem["detail"]
    assert f"PUT /cep/admin/quotas/{tenant}" in problem["detail"] and "CEP_QUOTA_RULES" in problem["detail"]
    form = {
        "name": "four",
        "trigger_type": "metric",
        "trigger": {"metric_name": "cpu", "operator": ">", "threshold": 1},
    }
    is_problem(client.post("/cep/rules/form", headers=editor, json=form), 429)  # the form path too
    assert client.get("/cep/rules", headers=editor).json()["total"] == 2

    other = mint(client, _tenant(), "editor")  # another tenant keeps the platform default
    create_rule(client, other, name="three")
    rule_id = client.get("/cep/rules", headers=editor).json()["items"][0]["rule_id"]
    assert client.delete(f"/cep/rules/{rule_id}", headers=editor).status_code == 204
    create_rule(client, editor, name="three")  # a deleted rule frees its place


def test_polling_targets_past_the_quota_are_refused(client: TestClient, nats_server: NatsServer) -> None:
    tenant = _tenant()
    editor = mint(client, tenant, "editor")
    _set(client, tenant, polling_targets=1)

    def target(name: str) -> dict[str, Any]:
        metrics = [{"name": "nats_mem", "path": "mem"}]
        return {"name": name, "url": f"{nats_server.monitor_url}/varz", "interval": "10s", "metrics": metrics}

    assert client.post(POLLING, headers=editor, json=target("first")).status_code == 201
    problem = is_problem(client.post(POLLING, headers=editor, json=target("second")), 429)
    assert "polling_targets" in problem["detail"] and "1" in problem["detail"]
    assert "CEP_QUOTA_POLLING_TARGETS" in problem["detail"]
    assert client.get(POLLING, headers=editor).json()["total"] == 1


def test_a_member_sees_its_effective_quotas_and_usage(client: TestClient) -> None:
    tenant = _tenant()
    viewer, editor = mint(client, tenant, "viewer"), mint(client, tenant, "editor")
    create_rule(client, editor, name="one")
    _set(client, tenant, rules=7)
    body = client.get("/cep/quotas", headers=viewer).json()
    assert body["tenant"] == tenant
    assert body["quotas"] == {**TenantQuotas().model_dump(), "rules": 7}
    assert body["usage"] == {"rules": 1, "polling_targets": 0, "silences": 0, "inhibit_rules": 0, "sse_streams": 0}
    is_problem(client.get("/cep/quotas"), 401)


def test_the_effective_quotas_are_published_to_kv_and_restored_at_start(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    tenant, plain = _tenant(), _tenant()
    settings = settings_for(tmp_path, quota_sse_streams=40)  # a platform default other than the built-in one
    with TestClient(create_app(settings)) as client:
        mint(client, tenant, "viewer")
        mint(client, plain, "viewer")
        _set(client, tenant, rules=3)
        entry = _kv_entry(nats_server, tenant)
        assert entry == {**TenantQuotas().model_dump(), "rules": 3, "sse_streams": 40}
        assert TenantQuotas.model_validate(entry).rules == 3  # what the evaluator and ingest read
        assert _kv_entry(nats_server, plain) is None  # no overrides: no key, the defaults apply
        _set(client, tenant, rules=None)
        assert _kv_entry(nats_server, tenant) is None  # every override removed: back to the defaults
        _set(client, tenant, series_per_rule=10)
    _kv_delete(nats_server, tenant)  # lost meanwhile (a new NATS, a purge): the next gateway start restores it
    with TestClient(create_app(settings)):
        deadline = time.monotonic() + 10
        while _kv_entry(nats_server, tenant) is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _kv_entry(nats_server, tenant) == {
            **TenantQuotas().model_dump(),
            "series_per_rule": 10,
            "sse_streams": 40,
        }
