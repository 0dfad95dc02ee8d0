"""Optimistic concurrency under real concurrent writers, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from services.gateway.app import create_app
from tests.gateway.conftest import ADMIN, CPU_RULE, settings_for

WRITERS = 8


@pytest.fixture
async def http(tmp_path: Path, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings_for(tmp_path, database_url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway", headers=ADMIN) as client:
            yield client


async def test_concurrent_writers_at_one_version_yield_one_winner(http: httpx.AsyncClient) -> None:
    rule = (await http.post("/cep/rules", json=CPU_RULE)).json()
    url = f"/cep/rules/{rule['rule_id']}"
    patches = [http.patch(url, json={"trigger_spec": {"threshold": 100 + i}, "version": 1}) for i in range(WRITERS)]
    responses = await asyncio.gather(*patches)
    assert Counter(r.status_code for r in responses) == {200: 1, 409: WRITERS - 1}
    current = (await http.get(url)).json()
    assert current["version"] == 2
    winner = next(r.json() for r in responses if r.status_code == 200)
    assert current["trigger_spec"]["threshold"] == winner["trigger_spec"]["threshold"]
    versions = (await http.get(f"{url}/versions")).json()
    assert [v["version"] for v in versions["items"]] == [2, 1]


async def test_concurrent_unversioned_writers_all_land_in_sequence(http: httpx.AsyncClient) -> None:
    rule = (await http.post("/cep/rules", json=CPU_RULE)).json()
    url = f"/cep/rules/{rule['rule_id']}"
    patches = [http.patch(url, json={"trigger_spec": {"threshold": 100 + i}}) for i in range(WRITERS)]
    responses = await asyncio.gather(*patches)
    assert [r.status_code for r in responses] == [200] * WRITERS
    assert sorted(r.json()["version"] for r in responses) == list(range(2, WRITERS + 2))
    versions = (await http.get(f"{url}/versions?limit=100")).json()
    assert versions["total"] == WRITERS + 1


async def test_concurrent_creates_of_one_name_yield_one_rule(http: httpx.AsyncClient) -> None:
    responses = await asyncio.gather(*(http.post("/cep/rules", json=CPU_RULE) for _ in range(WRITERS)))
    assert Counter(r.status_code for r in responses) == {201: 1, 409: WRITERS - 1}
    assert (await http.get("/cep/rules")).json()["total"] == 1


async def test_concurrent_creates_past_the_rules_quota_stop_exactly_at_it(http: httpx.AsyncClient) -> None:
    assert (await http.put("/cep/admin/quotas/default", json={"rules": 3})).status_code == 200
    creates = [http.post("/cep/rules", json={**CPU_RULE, "name": f"rule-{i}"}) for i in range(WRITERS)]
    responses = await asyncio.gather(*creates)
    assert Counter(r.status_code for r in responses) == {201: 3, 429: WRITERS - 3}
    assert (await http.get("/cep/rules")).json()["total"] == 3


SILENCE = {"matchers": ['alertname="cpu_high"'], "duration": "1h", "comment": "maintenance"}
INHIBIT_RULE = {"source_matchers": ["severity=critical"], "target_matchers": ["severity=high"], "equal": ["host"]}


@pytest.mark.parametrize(
    ("quota", "path", "body"),
    [("silences", "/cep/silences", SILENCE), ("inhibit_rules", "/cep/inhibit-rules", INHIBIT_RULE)],
)
async def test_concurrent_creates_past_a_muting_quota_stop_exactly_at_it(
    http: httpx.AsyncClient, quota: str, path: str, body: dict[str, object]
) -> None:
    assert (await http.put("/cep/admin/quotas/default", json={quota: 3})).status_code == 200
    responses = await asyncio.gather(*(http.post(path, json=body) for _ in range(WRITERS)))
    assert Counter(r.status_code for r in responses) == {201: 3, 429: WRITERS - 3}
    assert (await http.get(path)).json()["total"] == 3
