"""Handover notes through the API: create, merge-patch (null removes), versions, audit diff, form and preview."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.gateway.conftest import ADMIN, create_rule, is_problem

NOTES = {"purpose": "catch saturated hosts", "runbook": "1. check top\n2. scale out", "rollback": "deactivate"}


def test_notes_are_stored_versioned_audited_and_removable(client: TestClient) -> None:
    rule = create_rule(client, ADMIN, **NOTES)
    assert {k: rule[k] for k in NOTES} == NOTES and "deactivation_criterion" not in rule
    url = f"/cep/rules/{rule['rule_id']}"
    patched = client.patch(url, headers=ADMIN, json={"deactivation_criterion": "autoscaling lands", "rollback": None})
    assert patched.status_code == 200, patched.text
    assert patched.json()["deactivation_criterion"] == "autoscaling lands" and "rollback" not in patched.json()
    versions = client.get(f"{url}/versions", headers=ADMIN).json()["items"]
    assert versions[0]["rule"]["deactivation_criterion"] == "autoscaling lands"
    assert versions[1]["rule"]["rollback"] == "deactivate"
    [entry] = client.get(f"/cep/audit?resource=rule&resource_id={rule['rule_id']}&limit=1", headers=ADMIN).json()[
        "items"
    ]
    assert entry["change"]["rollback"] == {"before": "deactivate", "after": None}
    problem = is_problem(client.patch(url, headers=ADMIN, json={"runbook": ["not", "text"]}), 422)
    assert problem["errors"][0]["loc"] == ["runbook"]


def test_the_form_and_its_preview_carry_the_notes(client: TestClient) -> None:
    form = {
        "name": "disk_full",
        "trigger_type": "metric",
        "trigger": {"metric_name": "disk_used_pct", "operator": ">=", "threshold": "95"},
        **NOTES,
    }
    shown = client.post("/cep/rules/preview", headers=ADMIN, json=form).json()
    assert shown["errors"] == [] and shown["rule"]["runbook"] == NOTES["runbook"]
    saved = client.post("/cep/rules/form", headers=ADMIN, json=form)
    assert saved.status_code == 201 and saved.json()["purpose"] == NOTES["purpose"]
