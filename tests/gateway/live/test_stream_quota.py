"""Open SSE streams per tenant against a real server: past the tenant's `sse_streams` quota the next
`GET /cep/events/stream` is a 429 with Retry-After; a closed stream gives its place back. Counted per replica."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import httpx
import pytest

from tests.gateway.conftest import ADMIN, is_problem
from tests.gateway.live_gateway import LiveGateway, new_tenant, start_gateway
from tests.support.waiting import eventually_async

STREAM = "/cep/events/stream"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    live = start_gateway(tmp_path_factory.mktemp("stream-quota"), sse_keepalive_seconds=0.5, quota_sse_streams=3)
    yield live
    live.stop()


def _streams_in_use(gateway: LiveGateway, headers: dict[str, str]) -> int:
    response = httpx.get(f"{gateway.url}/cep/quotas", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    return int(response.json()["usage"]["sse_streams"])


async def test_the_stream_past_the_quota_is_429_and_a_closed_one_frees_its_place(gateway: LiveGateway) -> None:
    tenant, neighbour = new_tenant(), new_tenant()
    headers = gateway.token(tenant, "viewer")
    put = httpx.put(f"{gateway.url}/cep/admin/quotas/{tenant}", headers=ADMIN, json={"sse_streams": 2}, timeout=10)
    assert put.status_code == 200, put.text
    async with contextlib.AsyncExitStack() as stack:
        client = await stack.enter_async_context(httpx.AsyncClient(base_url=gateway.url, timeout=10, headers=headers))
        for _ in range(3):  # failed opens (a bad resume id) hold no place
            is_problem(await client.get(STREAM, headers={"Last-Event-ID": "x"}), 422)
        first = await stack.enter_async_context(client.stream("GET", STREAM))
        second = await stack.enter_async_context(client.stream("GET", STREAM))
        assert (first.status_code, second.status_code) == (200, 200)
        assert _streams_in_use(gateway, headers) == 2

        refused = await client.get(STREAM)
        problem = is_problem(refused, 429)
        assert int(refused.headers["Retry-After"]) >= 1
        assert "sse_streams" in problem["detail"] and "2" in problem["detail"]
        assert "CEP_QUOTA_SSE_STREAMS" in problem["detail"] and "per gateway replica" in problem["detail"]

        others = gateway.token(neighbour, "viewer")  # another tenant has its own count (the default, 3)
        async with client.stream("GET", STREAM, headers=others) as theirs:
            assert theirs.status_code == 200

        await first.aclose()  # the client goes away: its place is given back

        async def freed() -> bool:
            return await asyncio.to_thread(_streams_in_use, gateway, headers) == 1

        await eventually_async(freed, timeout=10)
        async with client.stream("GET", STREAM) as third:
            assert third.status_code == 200
