"""Anomaly routes at the gateway: status refusals (404, 409, 503), precision, backtest over series and stored events.

The status route's happy path needs the evaluator: tests/evaluator/test_anomaly_status.py (gRPC) and
tests/e2e/test_anomaly_labs.py (through `cep up`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.common.cli.procs import free_port
from services.common.domain.anomaly import backtest as domain
from services.gateway.app import create_app
from services.gateway.state import state_of
from tests.gateway.conftest import create_rule, is_problem, mint, settings_for

LAB4: dict[str, Any] = {
    "name": "cpu_anomaly",
    "trigger_type": "anomaly",
    "trigger_spec": {"value_path": "cpu_percent", "anomaly_method": "zscore", "threshold": 3.0, "min_baseline": 10},
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """A gateway whose evaluator gRPC address has nobody listening (one for the module: each test has its tenant)."""
    settings = settings_for(tmp_path_factory.mktemp("gateway"), evaluator_grpc=f"127.0.0.1:{free_port()}")
    with TestClient(create_app(settings)) as client:
        deadline = time.monotonic() + 10
        while not state_of(client.app).bus.is_ready and time.monotonic() < deadline:
            time.sleep(0.02)
        yield client


@pytest.fixture
def editor(gateway: TestClient) -> dict[str, str]:
    return mint(gateway, f"t-{uuid.uuid4().hex[:10]}", "editor")


def test_anomaly_status_refusals(gateway: TestClient, editor: dict[str, str]) -> None:
    anomaly = create_rule(gateway, editor, **LAB4)["rule_id"]
    metric = create_rule(gateway, editor)["rule_id"]
    stranger = mint(gateway, f"t-{uuid.uuid4().hex[:10]}", "viewer")
    is_problem(gateway.get("/cep/rules/nope/anomaly-status", headers=editor), 404)
    is_problem(gateway.get(f"/cep/rules/{anomaly}/anomaly-status", headers=stranger), 404)  # another tenant's
    conflict = is_problem(gateway.get(f"/cep/rules/{metric}/anomaly-status", headers=editor), 409)
    assert "not an anomaly rule" in conflict["detail"]
    down = is_problem(gateway.get(f"/cep/rules/{anomaly}/anomaly-status", headers=editor), 503)
    assert down["detail"].startswith("the evaluator is unreachable (UNAVAILABLE")


def test_precision_of_a_rule(gateway: TestClient, editor: dict[str, str]) -> None:
    rule_id = create_rule(gateway, editor, **LAB4)["rule_id"]
    response = gateway.get(f"/cep/rules/{rule_id}/precision", headers=editor)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "rule_id": rule_id,
        "events": 0,
        "labelled": 0,
        "true_positive": 0,
        "false_positive": 0,
        "precision": None,
    }
    is_problem(gateway.get("/cep/rules/nope/precision", headers=editor), 404)


def labelled_series() -> list[dict[str, Any]]:
    values = [40 + n % 5 + (5 if n in (21, 23) else 0) + (50 if n in (30, 45) else 0) for n in range(50)]
    return [{"value": v, "label": n in (30, 45)} for n, v in enumerate(values)]


def test_backtest_compares_variants_over_a_labelled_series(gateway: TestClient, editor: dict[str, str]) -> None:
    rule = {**LAB4, "trigger_spec": {**LAB4["trigger_spec"], "min_baseline": 20, "threshold": 2}}
    body = {
        "rule": rule,
        "variants": [{"name": "zscore-2", "trigger_spec": {}}, {"name": "zscore-4", "trigger_spec": {"threshold": 4}}],
        "series": labelled_series(),
    }
    response = gateway.post("/cep/rules/backtest", headers=editor, json=body)
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["source"], report["samples"], report["labelled"]) == ("series", 50, 50)
    loose, tight = report["variants"]
    assert loose["labels"]["false_positive_ratio"] == 0.5 and tight["labels"]["false_positive_ratio"] == 0
    assert tight["compared_with_first"]["explanation"].startswith("zscore-4: 2 flagged (was 4 with zscore-2)")
    assert tight["trigger_spec"]["threshold"] == 4 and loose["trigger_spec"]["threshold"] == 2


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"series": [{"value": 1}] * (domain.MAX_SAMPLES + 1)}, ["series"]),
        ({"series": [{"value": 1, "payload": {}}]}, ["series", 0]),
        ({"series": [{"value": 1, "timestamp": "yesterday"}]}, ["series", 0, "timestamp"]),
        ({"series": [{"value": "NaN"}]}, ["series", 0, "value"]),
        (
            {"variants": [{"name": "bad", "trigger_spec": {"threshold": -1}}]},
            ["variants", 0, "trigger_spec", "threshold"],
        ),
        ({"variants": [{"name": f"v{n}"} for n in range(domain.MAX_VARIANTS + 1)]}, ["variants"]),
        ({"rule": {**LAB4, "trigger_spec": {"value_path": "cpu"}}}, ["rule", "trigger_spec", "anomaly_method"]),
        ({"series": None}, ["series"]),
        ({"since": "2026-01-01T00:00:00Z"}, ["since"]),
        ({"series": None, "since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, ["until"]),
        ({"series": [{"value": 1}] * 3000, "variants": [{"name": f"v{n}"} for n in range(8)]}, ["variants"]),
    ],
)
def test_backtest_refusals_name_the_field(
    gateway: TestClient, editor: dict[str, str], change: dict[str, Any], loc: list[Any]
) -> None:
    body = {"rule": LAB4, "series": [{"value": 1}], **change}
    problem = is_problem(gateway.post("/cep/rules/backtest", headers=editor, json=body), 422)
    assert loc in [error["loc"][: len(loc)] for error in problem["errors"]], problem


def test_backtest_over_stored_events(gateway: TestClient, editor: dict[str, str]) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    start = datetime.now(UTC) - timedelta(minutes=5)
    items: list[dict[str, Any]] = [
        {"timestamp": (start + timedelta(seconds=n)).isoformat(), "cpu_percent": 40 + n % 5, "host": "a"}
        for n in range(30)
    ]
    items += [{"memory": 3}, {"cpu_percent": 99, "host": "a"}]  # no value: not observed; the outlier last
    accepted = gateway.post("/cep/ingest", headers=editor, json=items)
    assert accepted.status_code == 202 and accepted.json()["accepted"] == 32, accepted.text
    body = {"rule": LAB4, "since": since.isoformat()}
    response = gateway.post("/cep/rules/backtest", headers=editor, json=body)
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["source"], report["samples"]) == ("events", 31)
    (base,) = report["variants"]
    assert (base["learning"], base["scored"]) == (10, 21)
    assert [f["index"] for f in base["flagged"]] == [30] and base["flagged"][0]["value"] == 99
    other = mint(gateway, f"t-{uuid.uuid4().hex[:10]}", "viewer")  # another tenant sees none of these events
    assert gateway.post("/cep/rules/backtest", headers=other, json=body).json()["samples"] == 0


def test_the_routes_are_in_openapi(gateway: TestClient) -> None:
    paths = gateway.get("/openapi.json").json()["paths"]
    assert "post" in paths["/cep/rules/backtest"]
    assert "get" in paths["/cep/rules/{rule_id}/anomaly-status"] and "get" in paths["/cep/rules/{rule_id}/precision"]
