"""`cep rules export|apply` as an operator runs them: a subprocess against a real gateway (uvicorn on a port)."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from services.common.cli import rules
from services.common.cli.main import build_parser
from services.common.cli.rules_pack import PackError, load_pack
from tests.gateway.conftest import ADMIN
from tests.gateway.live_gateway import LiveGateway

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "rulepack.yaml"


@pytest.fixture
def tenant(gateway: LiveGateway) -> dict[str, str]:
    """A fresh tenant's editor token, as CEP_URL / CEP_TOKEN."""
    headers = gateway.token(f"pack-{uuid.uuid4().hex[:8]}", "editor")
    return {"CEP_URL": gateway.url, "CEP_TOKEN": headers["Authorization"].removeprefix("Bearer ")}


def cep(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`cep rules ...` as its own process, as an operator runs it (CEP_URL / CEP_TOKEN from the environment)."""
    return subprocess.run(
        [sys.executable, "-m", "services.common.cli", "rules", *args],
        env={**os.environ, **env},
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def cep_here(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """The same command in this process (the error paths and repeats; the subprocess runs prove the real thing)."""
    out, err = io.StringIO(), io.StringIO()
    parsed = build_parser().parse_args(["rules", *args, "--url", env["CEP_URL"], "--token", env["CEP_TOKEN"]])
    return rules.main(parsed, out, err, stdin=io.StringIO("")), out.getvalue(), err.getvalue()


def rules_of(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {env['CEP_TOKEN']}"}
    items = httpx.get(f"{env['CEP_URL']}/cep/rules", headers=headers, timeout=10).json()["items"]
    return {rule["name"]: rule for rule in items}


def test_the_example_pack_applies_once_and_then_changes_nothing(tenant: dict[str, str], tmp_path: Path) -> None:
    code, dry, err = cep_here(tenant, "apply", "-f", str(EXAMPLE), "--dry-run")
    assert code == 0, err
    assert "+ create    critical_cpu" in dry and "5 to create, 0 to update, 0 unchanged" in dry
    assert rules_of(tenant) == {}  # a dry run changes nothing

    code, _, err = cep_here(tenant, "apply", "-f", str(EXAMPLE))  # no terminal, no --yes: nothing happens
    assert code == 1 and "without --yes" in err and rules_of(tenant) == {}

    first = cep(tenant, "apply", "-f", str(EXAMPLE), "--yes")
    assert first.returncode == 0, first.stdout + first.stderr
    stored = rules_of(tenant)
    assert sorted(stored) == ["critical_cpu", "critical_error", "escalation", "health_check", "latency_anomaly"]
    assert stored["critical_cpu"]["runbook"].startswith("1. Open the event")
    assert stored["latency_anomaly"]["active"] is False and stored["escalation"]["priority"] == "P1"

    code, second, _ = cep_here(tenant, "apply", "-f", str(EXAMPLE), "--yes")
    assert code == 0 and "0 to create, 0 to update, 5 unchanged" in second and "nothing to change" in second
    assert {r["version"] for r in rules_of(tenant).values()} == {1}

    # export -> apply is a fixed point, and the export holds no ids, versions or timestamps
    exported = tmp_path / "pack.yaml"
    assert cep(tenant, "export", "-o", str(exported)).returncode == 0
    text = exported.read_text()
    assert not {"rule_id", "version", "created_at", "updated_at", "tenant"} & set(
        key for rule in yaml.safe_load(text)["rules"] for key in rule
    )
    assert [s.name for s in load_pack(text)] == sorted(stored)
    assert "nothing to change" in cep_here(tenant, "apply", "-f", str(exported), "--yes")[1]
    assert cep_here(tenant, "export")[1] == text  # stable


def test_apply_shows_a_field_level_diff_and_updates_by_name(tenant: dict[str, str], tmp_path: Path) -> None:
    assert cep_here(tenant, "apply", "-f", str(EXAMPLE), "--yes")[0] == 0
    pack = yaml.safe_load(EXAMPLE.read_text())
    cpu = next(r for r in pack["rules"] if r["name"] == "critical_cpu")
    cpu["trigger_spec"]["threshold"] = 95
    cpu["rollback"] = "raise the threshold to 98"
    pack["rules"].append(
        {
            "name": "disk_full",
            "trigger_type": "metric",
            "trigger_spec": {"metric_name": "disk_used_pct", "operator": ">=", "threshold": 95},
        }
    )
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(pack))
    result = cep(tenant, "apply", "-f", str(changed), "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "~ update    critical_cpu" in result.stdout
    assert "      trigger_spec.threshold: 90 -> 95" in result.stdout
    assert "      rollback: Deactivate the rule (PATCH active=false) or raise the threshold to 95. -> raise" in (
        result.stdout
    )
    assert "+ create    disk_full" in result.stdout and "1 to create, 1 to update, 4 unchanged" in result.stdout
    stored = rules_of(tenant)
    assert stored["critical_cpu"]["trigger_spec"]["threshold"] == 95 and stored["critical_cpu"]["version"] == 2
    assert stored["disk_full"]["active"] is False


def test_bad_packs_and_refusals_are_reported(tenant: dict[str, str], tmp_path: Path, gateway: LiveGateway) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - name: a\n    trigger_type: metric\n    trigger_spec: {metric_name: x, operator: '>'}\n")
    code, _, err = cep_here(tenant, "apply", "-f", str(bad), "--yes")
    assert code == 2 and "rules[0] (a).trigger_spec.threshold: Field required" in err

    rule = {"name": "a", "trigger_type": "event", "trigger_spec": {"event_type": "x"}}
    for text, message in [
        (yaml.safe_dump({"rules": [rule, rule]}), "rules[1].name: 'a' is already rules[0]"),
        ("rules: [", "not valid YAML"),
        ("- a\n", "a rule pack is a mapping with a `rules` list"),
        (yaml.safe_dump({"rules": [], "channels": []}), "unknown top-level key(s): channels"),
    ]:
        with pytest.raises(PackError, match=re.escape(message)):
            load_pack(text)

    # a policy refusal is shown per rule, and the rest of the pack still applies
    tenant_name = httpx.get(
        f"{gateway.url}/cep/auth/whoami", headers={"Authorization": f"Bearer {tenant['CEP_TOKEN']}"}
    ).json()["tenant"]
    admin = gateway.token(tenant_name, "admin")
    httpx.put(f"{gateway.url}/cep/settings", headers=admin, json={"policies": {"p1_requires_owner_and_backup": True}})
    p1 = {**rule, "name": "p1", "active": True, "priority": "P1"}
    mixed = tmp_path / "mixed.yaml"
    mixed.write_text(yaml.safe_dump({"rules": [p1, {**rule, "name": "fine"}]}))
    result = cep(tenant, "apply", "-f", str(mixed), "--yes")
    assert result.returncode == 1
    refused = "FAILED to create p1: 409 Conflict: p1_requires_owner_and_backup: a P1 rule needs owner and backup_owner"
    assert refused in result.stdout
    assert sorted(rules_of(tenant)) == ["fine"]

    code, _, err = cep_here({**tenant, "CEP_URL": "http://127.0.0.1:9"}, "export")
    assert code == 3 and "cannot reach the gateway" in err
    code, _, err = cep_here({**tenant, "CEP_TOKEN": "wrong"}, "export")
    assert code == 4 and err.startswith("cep rules export: 401 ")


def test_apply_past_the_rules_quota_reports_the_limit_and_how_to_raise_it(
    tenant: dict[str, str], tmp_path: Path, gateway: LiveGateway
) -> None:
    headers = {"Authorization": f"Bearer {tenant['CEP_TOKEN']}"}
    name = httpx.get(f"{gateway.url}/cep/auth/whoami", headers=headers).json()["tenant"]
    quota = httpx.put(f"{gateway.url}/cep/admin/quotas/{name}", headers=ADMIN, json={"rules": 2})
    assert quota.status_code == 200, quota.text
    rule = {"trigger_type": "event", "trigger_spec": {"event_type": "x"}}
    pack = tmp_path / "three.yaml"
    pack.write_text(yaml.safe_dump({"rules": [{**rule, "name": f"r{i}"} for i in range(3)]}))
    code, out, _ = cep_here(tenant, "apply", "-f", str(pack), "--yes")
    assert code == 1
    assert re.search(r"FAILED to create r2: 429 .*rules.*\b2\b.*CEP_QUOTA_RULES", out), out
    assert sorted(rules_of(tenant)) == ["r0", "r1"]
