"""`cep routes test|show` against a real gateway: amtool-style labels in, amtool's line, a table or JSON out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.common.cli.cep_process import cep, cep_in_process, operator
from tests.gateway.live_gateway import LiveGateway

POLICY = {
    "route": {
        "receiver": "ops",
        "group_by": ["alertname"],
        "routes": [
            {"matchers": ['team="db"'], "receiver": "db", "continue": True, "active_time_intervals": ["never"]},
            {"match": {"severity": "page"}, "receiver": "pager", "group_wait": "10s"},
        ],
    },
    "receivers": [{"name": "ops", "channels": ["ops-hook"]}, {"name": "db"}, {"name": "pager"}],
    "time_intervals": [{"name": "never", "time_intervals": [{"years": ["1999"]}]}],
}


@pytest.mark.slow  # make test keeps three subprocess runs (test_operator_cli.py); this one runs in make test-slow
def test_routes_test_prints_amtools_line_as_its_own_process(gateway: LiveGateway) -> None:
    env, api = operator(gateway)
    api.post("/cep/channels", json={"name": "ops-hook", "type": "webhook", "config": {"url": "http://127.0.0.1:9/h"}})
    assert api.put("/cep/notification-policies", json=POLICY).status_code == 200
    done = cep(env, "routes", "test", 'team="db"', "severity=page")
    assert (done.returncode, done.stdout, done.stderr) == (0, "db,pager\n", "")


def test_routes_test_wide_json_drafts_and_errors(gateway: LiveGateway, tmp_path: Path) -> None:
    env, api = operator(gateway)
    run = cep_in_process
    none = run(env, "routes", "test", "team=db")
    assert none.returncode == 1 and none.stderr.startswith("cep routes test: 404 Not Found")
    api.post("/cep/channels", json={"name": "ops-hook", "type": "webhook", "config": {"url": "http://127.0.0.1:9/h"}})
    assert api.put("/cep/notification-policies", json=POLICY).status_code == 200

    assert run(env, "routes", "test").stdout == "ops\n"  # no labels: the root
    wide = run(env, "routes", "test", "team=db", "-o", "wide")
    header, db_row = wide.stdout.splitlines()
    assert header.split()[:3] == ["PATH", "RECEIVER", "CHANNELS"]
    assert db_row.split()[:2] == ["0", "db"] and "outside every active time interval" in db_row
    body = json.loads(run(env, "routes", "test", "team=db", "alertname=Disk", "-o", "json").stdout)
    assert body["routes"][0]["group_labels"] == {"alertname": "Disk"} and body["routes"][0]["muted_at"] is True

    draft = tmp_path / "draft.yaml"
    draft.write_text(yaml.safe_dump({"route": {"receiver": "x"}, "receivers": [{"name": "x"}]}))
    assert run(env, "routes", "test", "--policy", str(draft), "team=db").stdout == "x\n"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"route": {"receiver": "x"}, "receivers": [{"name": "x", "channels": ["nope"]}]}))
    refused = run(env, "routes", "test", "--policy", str(bad))
    assert refused.returncode == 1 and "policy.receivers.0.channels.0: no channel 'nope'" in refused.stderr
    assert run(env, "routes", "test", "team=~db").returncode == 2
    assert run(env, "routes", "test", "--policy", str(tmp_path / "missing.yaml")).returncode == 2

    shown = run(env, "routes", "show")
    assert shown.returncode == 0 and shown.stdout.startswith("# version 1, updated ")
    assert yaml.safe_load(shown.stdout) == {**POLICY, "receivers": POLICY["receivers"]}
    assert json.loads(run(env, "routes", "show", "-o", "json").stdout)["version"] == 1
    viewer_env, _ = operator(gateway, role="viewer")
    assert run(viewer_env, "routes", "show").returncode == 1  # another tenant: no policy
