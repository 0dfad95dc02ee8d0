"""`GET /cep/events?label=name=value`: exact, repeatable (every one must hold), per tenant; bad filters are 422."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from nats.js.client import JetStreamContext

from tests.gateway.conftest import is_problem
from tests.gateway.live_gateway import T0, Episode, LiveGateway, new_tenant, publish_alert, start_gateway
from tests.support.waiting import eventually_async


@pytest.fixture
def gateway(tmp_path: Path, database_url: str) -> Iterator[LiveGateway]:
    live = start_gateway(tmp_path, database_url)
    yield live
    live.stop()


async def _seed(gateway: LiveGateway, js: JetStreamContext, tenant: str) -> tuple[dict[str, str], list[str]]:
    """Three events of a tenant: team=sre/env=prod, team=sre/env=dev, team=db/env=prod."""
    headers = gateway.token(tenant, "viewer")
    labels = [{"team": "sre", "env": "prod"}, {"team": "sre", "env": "dev"}, {"team": "db", "env": "prod"}]
    ids = []
    for index, extra in enumerate(labels):
        episode = Episode(tenant, group_key=f"host=h{index}", started_at=T0 + timedelta(minutes=index))
        fired = dataclasses.replace(episode.transition("fired"), labels={"alertname": "rule-1-name", **extra})
        await publish_alert(js, fired)
        ids.append(episode.event_id)

    async def recorded() -> bool:
        async with httpx.AsyncClient(base_url=gateway.url, headers=headers, timeout=10) as client:
            return (await client.get("/cep/events")).json()["total"] == len(labels)

    await eventually_async(recorded)
    return headers, ids


async def test_label_filters_match_exactly_and_within_the_tenant(gateway: LiveGateway, js: JetStreamContext) -> None:
    mine, theirs = new_tenant(), new_tenant()
    headers, ids = await _seed(gateway, js, mine)
    other_headers, other_ids = await _seed(gateway, js, theirs)
    async with httpx.AsyncClient(base_url=gateway.url, headers=headers, timeout=10) as client:

        async def listed(*filters: str) -> list[str]:
            response = await client.get("/cep/events", params=[("label", f) for f in filters])
            assert response.status_code == 200, response.text
            return [item["event_id"] for item in response.json()["items"]]

        assert await listed("team=sre") == [ids[1], ids[0]]  # newest first; never the other tenant's team=sre
        assert await listed("team=sre", "env=prod") == [ids[0]]
        assert await listed("team=sr") == []  # exact, not a prefix
        assert await listed("team=") == []  # an empty value is no label at all
        assert await listed("alertname=rule-1-name") == [ids[2], ids[1], ids[0]]
        first = (await client.get(f"/cep/events/{ids[0]}")).json()
        assert first["labels"] == {"alertname": "rule-1-name", "team": "sre", "env": "prod"}
        for bad in ("team", "bad-name=x", "=x"):
            problem = is_problem(await client.get("/cep/events", params={"label": bad}), 422)
            assert problem["errors"][0]["loc"] == ["label"]
    async with httpx.AsyncClient(base_url=gateway.url, headers=other_headers, timeout=10) as client:
        response = await client.get("/cep/events", params={"label": "team=db"})
        assert [item["event_id"] for item in response.json()["items"]] == [other_ids[2]]
