"""Per-tenant ingest rate limits: past the burst, POST /cep/ingest answers 429 with Retry-After and ingests nothing."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.gateway.app import create_app
from services.gateway.state import state_of
from tests.gateway.conftest import ADMIN, is_problem, mint, settings_for


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[TestClient]:
    """A gateway allowing each tenant 1 event/s with bursts of 5."""
    with TestClient(create_app(settings_for(tmp_path, ingest_rate=1, ingest_burst=5))) as client:
        deadline = time.monotonic() + 10
        while not state_of(client.app).bus.is_ready and time.monotonic() < deadline:
            time.sleep(0.02)
        yield client


def test_past_the_burst_the_tenant_gets_429_with_retry_after_and_others_are_not_affected(
    limited: TestClient,
) -> None:
    noisy = mint(limited, f"t-{uuid.uuid4().hex[:12]}", "editor")
    quiet = mint(limited, f"t-{uuid.uuid4().hex[:12]}", "editor")
    first = limited.post("/cep/ingest", headers=noisy, json=[{"cpu_usage": n} for n in range(5)])
    assert first.status_code == 202 and first.json()["accepted"] == 5, first.text

    refused = limited.post("/cep/ingest", headers=noisy, json=[{"cpu_usage": 1}, {"cpu_usage": 2}])
    body = is_problem(refused, 429)
    assert body["type"] == "urn:cep:problem:rate_limited"
    assert "nothing of this body was ingested" in body["detail"]
    assert int(refused.headers["Retry-After"]) >= 1

    other = limited.post("/cep/ingest", headers=quiet, json={"cpu_usage": 3})
    assert other.status_code == 202, other.text


def test_bodies_without_valid_items_do_not_spend_the_budget(limited: TestClient) -> None:
    headers = mint(limited, f"t-{uuid.uuid4().hex[:12]}", "editor")
    for _ in range(10):
        response = limited.post("/cep/ingest", headers=headers, json=["not an object"])
        assert response.status_code == 202 and response.json()["accepted"] == 0
    assert limited.post("/cep/ingest", headers=headers, json={"cpu_usage": 1}).status_code == 202


def test_a_tenants_ingest_quota_override_limits_its_http_ingest(client: TestClient) -> None:
    """The platform admin's `ingest_rate`/`ingest_burst` override of one tenant applies at once, to it alone."""
    tenant = f"t-{uuid.uuid4().hex[:12]}"
    noisy, quiet = mint(client, tenant, "editor"), mint(client, f"t-{uuid.uuid4().hex[:12]}", "editor")
    deadline = time.monotonic() + 10
    while not state_of(client.app).bus.is_ready and time.monotonic() < deadline:
        time.sleep(0.02)
    override = {"ingest_rate": 0.5, "ingest_burst": 3}
    assert client.put(f"/cep/admin/quotas/{tenant}", headers=ADMIN, json=override).status_code == 200
    assert client.post("/cep/ingest", headers=noisy, json=[{"n": n} for n in range(3)]).status_code == 202
    problem = is_problem(client.post("/cep/ingest", headers=noisy, json={"n": 4}), 429)
    assert "0.5 events/s" in problem["detail"] and "CEP_QUOTA_INGEST_RATE" in problem["detail"]
    assert client.post("/cep/ingest", headers=quiet, json=[{"n": n} for n in range(10)]).status_code == 202
    assert client.put(f"/cep/admin/quotas/{tenant}", headers=ADMIN, json={"ingest_rate": 0}).status_code == 200
    assert client.post("/cep/ingest", headers=noisy, json=[{"n": n} for n in range(10)]).status_code == 202  # 0: none
