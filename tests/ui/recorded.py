"""Events for the browser tests, recorded by the gateway's real recorder from alerts published as the evaluator does.

Playwright's sync API owns the test thread's event loop, so the NATS publishing runs on a thread of its own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import nats

from services.common.domain.lifecycle.transitions import Transition
from services.common.messages.delivery import DeliveryResult
from tests.gateway.live_gateway import publish_alert, publish_result


def tenant_of(api: httpx.Client) -> str:
    """The tenant of the API client's token."""
    response = api.get("/cep/auth/whoami")
    assert response.status_code == 200, response.text
    return str(response.json()["tenant"])


def publish(nats_url: str, transitions: Sequence[Transition], results: Sequence[DeliveryResult] = ()) -> None:
    """Publish the alerts (no actions: no notifier of the session delivers them), then the delivery results."""

    async def send() -> None:
        client = await nats.connect(nats_url)
        js = client.jetstream()
        for transition in transitions:
            await publish_alert(js, transition, actions=[])
        for result in results:
            await publish_result(js, result)
        await client.drain()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, send()).result(timeout=30)


def wait_listed(api: httpx.Client, total: int, timeout: float = 15, **params: Any) -> list[dict[str, Any]]:
    """The events GET /cep/events lists for `params`, once there are `total` of them."""
    deadline = time.monotonic() + timeout
    while True:
        page = api.get("/cep/events", params={**params, "limit": 1000}).json()
        if page["total"] == total or time.monotonic() > deadline:
            assert page["total"] == total, page
            items: list[dict[str, Any]] = page["items"]
            return items
        time.sleep(0.05)
