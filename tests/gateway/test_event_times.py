"""Timestamps out of range over HTTP: an ingest item is rejected by index, a trigger is a 422 naming the field."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.gateway.state import state_of
from tests.gateway.conftest import CPU_RULE, create_rule, is_problem, mint

OUT_OF_RANGE: list[Any] = ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59Z", 1e20]


@pytest.fixture
def ready(client: TestClient) -> TestClient:
    """The gateway, connected to the session's NATS (it connects in the background at start)."""
    deadline = time.monotonic() + 10
    while not state_of(client.app).bus.is_ready and time.monotonic() < deadline:
        time.sleep(0.02)
    return client


def test_ingest_rejects_each_out_of_range_item_and_keeps_the_others(ready: TestClient) -> None:
    headers = mint(ready, f"t-{uuid.uuid4().hex[:8]}", "editor")
    items = [{"cpu_usage": 1, "timestamp": stamp} for stamp in OUT_OF_RANGE] + [{"cpu_usage": 2}]
    response = ready.post("/cep/ingest", headers=headers, json=items)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["accepted"] == 1 and len(body["event_ids"]) == 1
    assert [r["index"] for r in body["rejected"]] == list(range(len(OUT_OF_RANGE)))
    assert all("timestamp" in r["error"] for r in body["rejected"]), body


@pytest.mark.parametrize("stamp", OUT_OF_RANGE)
def test_trigger_names_the_timestamp(client: TestClient, stamp: Any) -> None:
    headers = mint(client, f"t-{uuid.uuid4().hex[:8]}", "editor")
    rule_id = create_rule(client, headers)["rule_id"]
    body = {"payload": {"cpu_usage": 99, "timestamp": stamp}}
    problem = is_problem(client.post(f"/cep/rules/{rule_id}/trigger", headers=headers, json=body), 422)
    assert [e["loc"] for e in problem["errors"]] == [["payload", "timestamp"]], problem


@pytest.mark.parametrize(
    ("path", "param", "value"),
    [
        ("/cep/events", "since", "9999-12-31T23:59:59-12:00"),
        ("/cep/events", "until", "0001-01-01T00:00:00+05:00"),
        ("/cep/scheduler/runs", "since", "9999-12-31T23:59:59-12:00"),
        ("/cep/scheduler/runs", "until", "0001-01-01T00:00:00+05:00"),
        ("/cep/audit", "since", "9999-12-31T23:59:59-12:00"),
        ("/cep/stats/daily", "until", "0001-01-03T00:00:00Z"),
        ("/cep/stats/weekly", "until", "0001-01-01T00:00:00+05:00"),
    ],
)
def test_a_query_time_out_of_range_is_a_422_naming_it(client: TestClient, path: str, param: str, value: str) -> None:
    headers = mint(client, f"t-{uuid.uuid4().hex[:8]}", "viewer")
    problem = is_problem(client.get(path, headers=headers, params={param: value}), 422)
    assert [e["loc"] for e in problem["errors"]] == [[param]], problem


@pytest.mark.parametrize("field", ["since", "until"])
def test_a_backtest_range_out_of_range_is_a_422_naming_it(client: TestClient, field: str) -> None:
    headers = mint(client, f"t-{uuid.uuid4().hex[:8]}", "viewer")
    body = {"rule": CPU_RULE, "since": "2024-05-01T00:00:00Z", "until": "2024-05-02T00:00:00Z"}
    body[field] = "0001-01-01T00:00:00+05:00"
    problem = is_problem(client.post("/cep/rules/backtest", headers=headers, json=body), 422)
    assert [e["loc"] for e in problem["errors"]] == [[field]], problem
