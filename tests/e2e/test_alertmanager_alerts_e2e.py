"""Alerts posted to `POST /api/v2/alerts` through the real stack (`cep up`): the built-in rule opens one event per
label set with exactly the posted labels, a re-send joins it, an `endsAt` in the past resolves it, a tenant's own
rule takes the alerts it matches; `amtool alert add|query` unchanged; and the real Prometheus (2.42) pushing an
alerting rule's alert, then resolving it when the rule stops firing."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from services.common.cli.procs import free_port
from tests.support.alertmanager import AMTOOL, stamp
from tests.support.processes import stop_process
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e
PROMETHEUS = "prometheus"  # Debian's package (2.42); `make prometheus` installs it
WAIT = 30.0


def _editor(stack: Stack, prefix: str) -> tuple[str, str]:
    tenant = f"{prefix}-{uuid.uuid4().hex[:6]}"
    with stack.client() as admin:
        minted = admin.post("/cep/auth/tokens", json={"tenant": tenant, "role": "editor", "name": "am"})
    assert minted.status_code == 201, minted.text
    return tenant, str(minted.json()["token"])


def _until(check: Callable[[], Any], timeout: float = WAIT, why: Callable[[], str] | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"not within {timeout} s{': ' + why() if why else ''}")


def _alerts(api: httpx.Client, *filters: str) -> list[dict[str, Any]]:
    response = api.get("/api/v2/alerts", params=[("filter", f) for f in filters])
    assert response.status_code == 200, response.text
    return list(response.json())


def _events(api: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    return list(api.get("/cep/events", params=params).json()["items"])


def test_posted_alerts_open_absorb_and_resolve(stack: Stack) -> None:
    _, token = _editor(stack, "am-post")
    labels = {"alertname": "DiskFull", "instance": "db-1", "severity": "page"}
    with stack.client(token) as api:
        posted = api.post("/api/v2/alerts", json=[{"labels": labels, "annotations": {"summary": "disk"}}])
        assert (posted.status_code, posted.content) == (200, b"")
        [alert] = _until(lambda: _alerts(api, "alertname=DiskFull"))
        assert alert["labels"] == labels and alert["annotations"] == {"summary": "disk"}
        assert alert["status"] == {"state": "active", "silencedBy": [], "inhibitedBy": []}
        ends = datetime.fromisoformat(alert["endsAt"]) - datetime.fromisoformat(alert["updatedAt"])
        assert timedelta(minutes=4) < ends <= timedelta(minutes=5, seconds=1)  # last receipt + 5m
        [builtin] = api.get("/cep/rules", params={"q": "alertmanager-alerts"}).json()["items"]
        assert builtin["rule_id"].startswith("am-alerts-") and builtin["active"] is True
        [event] = _events(api, rule_id=builtin["rule_id"])
        assert event["labels"] == labels and event["payload"]["labels"] == labels and event["count"] == 1

        assert api.post("/api/v2/alerts", json=[{"labels": labels}]).status_code == 200  # a re-send joins it
        _until(lambda: _events(api, rule_id=builtin["rule_id"])[0]["count"] == 2)
        past = stamp(datetime.now(UTC) - timedelta(seconds=5))
        assert api.post("/api/v2/alerts", json=[{"labels": labels, "endsAt": past}]).status_code == 200
        _until(lambda: _events(api, rule_id=builtin["rule_id"])[0]["status"] == "resolved")
        assert _alerts(api, "alertname=DiskFull") == []
        assert len(_events(api, rule_id=builtin["rule_id"])) == 1  # the resolving post opened nothing

        # A rule of the tenant on `alertmanager.alert` takes the alerts it matches; the built-in one the others.
        mine = api.post(
            "/cep/rules",
            json={
                "name": "db-pages",
                "active": True,
                "trigger_type": "event",
                "trigger_spec": {"event_type": "alertmanager.alert", "group_by": ["labels.alertname"]},
                "conditions": {"field": "labels.team", "op": "==", "value": "db"},
            },
        ).json()
        both = [{"labels": {"alertname": "Slow", "team": "db"}}, {"labels": {"alertname": "Slow", "team": "web"}}]
        assert api.post("/api/v2/alerts", json=both).status_code == 200
        [taken] = _until(lambda: _events(api, rule_id=mine["rule_id"]))
        assert taken["labels"]["alertname"] == "db-pages" and taken["group_key"] == "labels.alertname=Slow"
        [left] = _until(lambda: _alerts(api, "alertname=Slow", "team=web"))
        assert left["labels"] == {"alertname": "Slow", "team": "web"}
        assert len(_events(api, rule_id=builtin["rule_id"])) == 2  # DiskFull (resolved) and Slow/web

        # Another tenant sees none of it; a tenant that deactivates the built-in rule keeps it off.
        _, stranger = _editor(stack, "am-other")
        with stack.client(stranger) as other:
            assert _alerts(other) == [] and other.get("/api/v2/alerts/groups").json() == []
        patched = api.patch(f"/cep/rules/{builtin['rule_id']}", json={"active": False})
        assert patched.status_code == 200, patched.text
        assert api.post("/api/v2/alerts", json=[{"labels": {"alertname": "Ignored"}}]).status_code == 200
        time.sleep(1.5)
        assert _alerts(api, "alertname=Ignored") == []
        assert [r["rule_id"] for r in api.get("/cep/rules", params={"q": "alertmanager"}).json()["items"]] == [
            builtin["rule_id"]
        ]


@pytest.mark.skipif(shutil.which(AMTOOL) is None, reason="amtool is not installed (make alertmanager)")
def test_amtool_adds_and_queries_alerts(stack: Stack, tmp_path: Path) -> None:
    _, token = _editor(stack, "am-tool")
    http_config = tmp_path / "http.yml"
    http_config.write_text(yaml.safe_dump({"authorization": {"type": "Bearer", "credentials": token}}))

    def amtool(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [AMTOOL, f"--alertmanager.url={stack.url}", f"--http.config.file={http_config}", *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)

    added = amtool("alert", "add", "alertname=AmtoolAlert", "severity=warning", "--annotation=summary=hello")
    assert added.returncode == 0, added.stderr
    _until(lambda: "AmtoolAlert" in amtool("alert", "query").stdout, why=lambda: amtool("alert", "query").stderr)
    extended = amtool("alert", "query", "-o", "extended", "alertname=AmtoolAlert")
    assert 'severity="warning"' in extended.stdout and 'summary="hello"' in extended.stdout, extended.stdout
    silence = amtool("silence", "add", "alertname=AmtoolAlert", "--comment=quiet")
    assert silence.returncode == 0, silence.stderr
    assert "AmtoolAlert" not in amtool("alert", "query").stdout  # only active (unmuted) alerts by default
    silenced = amtool("alert", "query", "-s")
    assert silenced.returncode == 0 and "AmtoolAlert" in silenced.stdout, silenced.stdout + silenced.stderr
    as_json = amtool("alert", "query", "-s", "-o", "json")
    [alert] = json.loads(as_json.stdout)
    assert alert["status"]["silencedBy"] == [silence.stdout.strip()] and alert["status"]["state"] == "suppressed"


@pytest.fixture
def prometheus_rules(tmp_path: Path) -> Path:
    return tmp_path / "rules.yml"


def _rules(suite: str, firing: bool) -> str:
    rule = {
        "alert": "AlwaysFiring",
        "expr": "vector(1) > 0" if firing else "vector(0) > 0",
        "labels": {"severity": "page", "suite": suite},
        "annotations": {"summary": "always {{ $value }}"},
    }
    return yaml.safe_dump({"groups": [{"name": "e2e", "interval": "1s", "rules": [rule]}]})


@pytest.fixture
def prometheus(
    stack: Stack, tmp_path: Path, prometheus_rules: Path
) -> Iterator[tuple[subprocess.Popen[bytes], Path, str, str]]:
    """The real Prometheus evaluating one alerting rule every second and pushing its alerts to the stack."""
    if shutil.which(PROMETHEUS) is None:
        pytest.skip("`prometheus` is not installed (make prometheus installs Debian's package)")
    _, token = _editor(stack, "am-prom")
    suite = uuid.uuid4().hex[:8]
    prometheus_rules.write_text(_rules(suite, firing=True))
    host = stack.url.removeprefix("http://")
    config = {
        "global": {"evaluation_interval": "1s"},
        "rule_files": [str(prometheus_rules)],
        "alerting": {
            "alertmanagers": [
                {
                    "api_version": "v2",
                    "authorization": {"type": "Bearer", "credentials": token},
                    "static_configs": [{"targets": [host]}],
                }
            ]
        },
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    argv = [
        PROMETHEUS,
        f"--config.file={tmp_path / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{free_port()}",
        "--rules.alert.resend-delay=1s",
    ]
    log = tmp_path / "prometheus.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc, log, suite, token
    finally:
        stop_process(proc)


@pytest.mark.slow
def test_prometheus_pushes_an_alert_that_opens_then_resolves_an_event(
    stack: Stack, prometheus: tuple[subprocess.Popen[bytes], Path, str, str], prometheus_rules: Path
) -> None:
    proc, log, suite, token = prometheus
    with stack.client(token) as api:
        [alert] = _until(lambda: _alerts(api, f"suite={suite}"), 120, lambda: log.read_text()[-3000:])
        assert alert["labels"] == {"alertname": "AlwaysFiring", "severity": "page", "suite": suite}
        assert alert["annotations"] == {"summary": "always 1"}
        assert "/graph?g0.expr=" in alert["generatorURL"]
        [event] = _events(api, label=f"suite={suite}")
        assert event["status"] == "open"

        prometheus_rules.write_text(_rules(suite, firing=False))  # the rule stops firing
        proc.send_signal(signal.SIGHUP)  # Prometheus reloads its rules; the alert's resolution is sent
        _until(lambda: _alerts(api, f"suite={suite}") == [], 60, lambda: log.read_text()[-3000:])
        [resolved] = _until(lambda: [e for e in _events(api, label=f"suite={suite}") if e["status"] == "resolved"])
        assert resolved["event_id"] == event["event_id"] and resolved["resolved_at"]
