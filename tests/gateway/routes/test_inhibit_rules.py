"""Inhibit-rule routes: CRUD with versions and 409s, 422s naming fields, roles, tenant isolation, the audit log,
the KV mirror, and the preview of which open events inhibit which."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import nats
from fastapi.testclient import TestClient
from nats.js.errors import KeyNotFoundError

from services.common.messages import codec
from services.common.nats import subjects
from services.gateway.app import create_app
from tests.gateway.conftest import is_problem, mint, settings_for
from tests.gateway.routes.test_silences import add_open_event
from tests.support.nats import NatsServer

BASE = "/cep/inhibit-rules"
RULE: dict[str, Any] = {
    "source_matchers": ['severity="critical"'],
    "target_matchers": [{"name": "severity", "type": "=~", "value": "high|medium"}],
    "equal": ["host"],
    "description": "a critical alert of a host mutes its lesser ones",
}


def _tenant() -> str:
    return f"i-{uuid.uuid4().hex[:10]}"


def _bucket_entry(server: NatsServer, key: str) -> dict[str, Any] | None:
    async def read() -> dict[str, Any] | None:
        nc = await nats.connect(server.url)
        try:
            kv = await nc.jetstream().key_value(subjects.INHIBIT_RULES_BUCKET)
            return dict(codec.loads((await kv.get(key)).value or b"null"))
        except KeyNotFoundError:
            return None
        finally:
            await nc.close()

    return asyncio.run(read())


def test_crud_versions_audit_and_mirror(any_client: TestClient, nats_server: NatsServer) -> None:
    tenant = _tenant()
    editor, admin = mint(any_client, tenant, "editor"), mint(any_client, tenant, "admin")
    created = any_client.post(BASE, headers=editor, json=RULE)
    assert created.status_code == 201, created.text
    rule = created.json()
    rid = rule["rule_id"]
    assert created.headers["location"] == f"{BASE}/{rid}" and rule["version"] == 1
    assert rule["source_matchers"] == [{"name": "severity", "type": "=", "value": "critical"}]
    key = subjects.tenant_item_key(tenant, rid)
    assert (_bucket_entry(nats_server, key) or {}).get("version") == 1

    changed = {**RULE, "equal": ["host", "region"], "version": 1}
    replaced = any_client.put(f"{BASE}/{rid}", headers=editor, json=changed)
    assert replaced.status_code == 200 and replaced.json()["version"] == 2 and replaced.json()["equal"][1] == "region"
    is_problem(any_client.put(f"{BASE}/{rid}", headers=editor, json=changed), 409)  # version 1 is stale now
    assert (
        any_client.put(f"{BASE}/{rid}", headers=editor, json={**RULE, "equal": ["host", "region"]}).json()["version"]
        == 2
    )  # nothing changed: no new version
    assert (_bucket_entry(nats_server, key) or {}).get("equal") == ["host", "region"]

    assert any_client.get(BASE, headers=editor).json()["total"] == 1
    assert any_client.delete(f"{BASE}/{rid}", headers=editor).status_code == 204
    is_problem(any_client.get(f"{BASE}/{rid}", headers=editor), 404)
    assert _bucket_entry(nats_server, key) is None
    versions = any_client.get(f"{BASE}/{rid}/versions", headers=editor).json()["items"]
    assert [(v["version"], v["change"]) for v in versions] == [(3, "deleted"), (2, "replaced"), (1, "created")]
    audit = any_client.get("/cep/audit", headers=admin, params={"resource": "inhibit_rule"}).json()["items"]
    assert sorted(e["action"] for e in audit) == ["created", "deleted", "replaced"]


def test_bad_rules_are_422_naming_the_field(client: TestClient) -> None:
    editor = mint(client, _tenant(), "editor")
    cases = [
        ({**RULE, "source_matchers": [{"name": "a", "type": "=~", "value": "("}]}, ["source_matchers", 0, "value"]),
        ({**RULE, "target_matchers": ["a=~(("]}, ["target_matchers", 0]),
        ({**RULE, "target_matchers": []}, ["target_matchers"]),
        ({**RULE, "source_matchers": None}, ["source_matchers"]),
        ({**RULE, "equal": ["ok", "not-a-label"]}, ["equal", 1]),
        ({**RULE, "colour": "red"}, ["colour"]),
    ]
    for body, loc in cases:
        problem = is_problem(client.post(BASE, headers=editor, json=body), 422)
        assert loc in [e["loc"] for e in problem["errors"]], (body, problem)
    draft = {"rules": [RULE, {**RULE, "equal": [1]}]}
    problem = is_problem(client.post(f"{BASE}/preview", headers=editor, json=draft), 422)
    assert problem["errors"][0]["loc"] == ["rules", 1, "equal", 0]


def test_roles_and_tenant_isolation(client: TestClient) -> None:
    a, b = _tenant(), _tenant()
    editor_a, viewer_a, editor_b = mint(client, a, "editor"), mint(client, a, "viewer"), mint(client, b, "editor")
    rid = client.post(BASE, headers=editor_a, json=RULE).json()["rule_id"]
    is_problem(client.post(BASE, headers=viewer_a, json=RULE), 403)
    is_problem(client.delete(f"{BASE}/{rid}", headers=viewer_a), 403)
    assert client.get(f"{BASE}/{rid}", headers=viewer_a).status_code == 200
    for response in (
        client.get(f"{BASE}/{rid}", headers=editor_b),
        client.put(f"{BASE}/{rid}", headers=editor_b, json=RULE),
        client.delete(f"{BASE}/{rid}", headers=editor_b),
        client.get(f"{BASE}/{rid}/versions", headers=editor_b),
        client.get(f"{BASE}/bad id!", headers=editor_a),
    ):
        is_problem(response, 404)
    assert client.get(BASE, headers=editor_b).json()["total"] == 0
    assert client.get(f"{BASE}/{rid}", headers=editor_a).json()["version"] == 1


def test_preview_says_which_events_inhibit_which(client: TestClient) -> None:
    tenant = _tenant()
    editor = mint(client, tenant, "editor")
    critical = add_open_event(client, tenant, "down", group_key="host=gt-01", severity="critical")
    lesser = add_open_event(client, tenant, "cpu", group_key="host=gt-01", severity="high")
    add_open_event(client, tenant, "cpu2", group_key="host=gt-02", severity="high")  # another host: not inhibited
    other = _tenant()
    mint(client, other, "editor")
    add_open_event(client, other, "down", group_key="host=gt-02", severity="critical")  # never a source for tenant
    # Draft rules, nothing stored yet.
    draft = client.post(f"{BASE}/preview", headers=editor, json={"rules": [RULE]})
    assert draft.status_code == 200, draft.text
    verdicts = draft.json()["inhibited"]
    assert [(v["event_id"], v["inhibited_by"]) for v in verdicts] == [(lesser, [critical])]
    assert verdicts[0]["labels"]["host"] == "gt-01"
    # The stored rules by default.
    assert client.post(f"{BASE}/preview", headers=editor, json={}).json()["inhibited"] == []
    client.post(BASE, headers=editor, json=RULE)
    stored = client.post(f"{BASE}/preview", headers=editor, json={}).json()
    assert [v["event_id"] for v in stored["inhibited"]] == [lesser] and stored["truncated"] is False


def test_a_tenant_holds_at_most_its_quota_of_inhibit_rules(tmp_path: Path) -> None:
    with TestClient(create_app(settings_for(tmp_path, quota_inhibit_rules=2))) as client:
        editor, other = mint(client, _tenant(), "editor"), mint(client, _tenant(), "editor")
        first = client.post(BASE, headers=editor, json=RULE).json()["rule_id"]
        assert client.post(BASE, headers=editor, json=RULE).status_code == 201
        problem = is_problem(client.post(BASE, headers=editor, json=RULE), 429)
        assert "2 inhibit rules" in problem["detail"] and "`inhibit_rules` is 2" in problem["detail"]
        assert "CEP_QUOTA_INHIBIT_RULES" in problem["detail"] and problem["type"] == "urn:cep:problem:quota-exceeded"
        assert client.get(BASE, headers=editor).json()["total"] == 2
        assert client.post(BASE, headers=other, json=RULE).status_code == 201  # another tenant's count is its own
        assert client.put(f"{BASE}/{first}", headers=editor, json={**RULE, "equal": []}).status_code == 200
        assert client.delete(f"{BASE}/{first}", headers=editor).status_code == 204  # deleted ones do not count
        assert client.post(BASE, headers=editor, json=RULE).status_code == 201
        is_problem(client.post(BASE, headers=editor, json=RULE), 429)
