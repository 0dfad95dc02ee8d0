"""The tenant x role matrix: tenant A's canary data never reaches tenant B, on any route, in any role.

Tenant A stores a rule, a channel, a token and an event, each carrying a canary string. Then tenant B, as a
viewer, an editor and an admin, calls every operation of /openapi.json: with A's ids in the path (which must
never succeed), with A's ids as query filters, and reads its SSE stream from the start. No answer may contain
the canary. The walk follows the document, so a route added later is covered without touching this test.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from nats.js.client import JetStreamContext

from services.common.domain.events.model import Event
from services.common.domain.rules.rule_failures import RuleFailure
from services.common.messages.dead_letters import DeadLetter
from services.common.nats import subjects
from services.common.nats.dead_letters import rule_failure_letter
from tests.gateway.conftest import CPU_RULE
from tests.gateway.live_gateway import T0, Episode, LiveGateway, new_tenant, publish_alert, sse_messages, start_gateway
from tests.support.waiting import eventually_async

CANARY = f"canary{uuid.uuid4().hex}"
ROLES = ("viewer", "editor", "admin")
SKIP = {"/cep/events/stream"}  # read below as a stream, not as a request


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    live = start_gateway(tmp_path_factory.mktemp("matrix"))
    yield live
    live.stop()


async def _tenant_a(gateway: LiveGateway, js: JetStreamContext) -> dict[str, str]:
    """Tenant A's canary resources; returns their ids by the path parameter names that address them."""
    tenant = new_tenant()
    admin = gateway.token(tenant, "admin", name=CANARY)
    async with httpx.AsyncClient(base_url=gateway.url, headers=admin, timeout=10) as client:
        rule = (await client.post("/cep/rules", json={**CPU_RULE, "name": CANARY, "description": CANARY})).json()
        hook = {"name": CANARY, "type": "webhook", "config": {"url": f"http://127.0.0.1:9/{CANARY}"}}
        channel = (await client.post("/cep/channels", json=hook)).json()
        tokens = (await client.get("/cep/auth/tokens")).json()
        episode = Episode(tenant, rule_id=rule["rule_id"], started_at=T0 + timedelta(minutes=1), group_key=CANARY)
        await publish_alert(js, episode.transition("fired", payload={"host": CANARY}), actions=[])

        async def recorded() -> bool:
            return (await client.get(f"/cep/events/{episode.event_id}")).status_code == 200

        await eventually_async(recorded)
        letter = _canary_letter(tenant, rule["rule_id"])
        await js.publish(letter.subject(), letter.encode(), headers={subjects.MSG_ID: letter.id})

        async def dead_letter_recorded() -> bool:
            return (await client.get(f"/cep/dead-letters/{letter.id}")).status_code == 200

        await eventually_async(dead_letter_recorded)
    token_id = next(t["token_id"] for t in tokens["items"] if t["name"] == CANARY)
    return {
        "rule_id": rule["rule_id"],
        "channel_id": channel["channel_id"],
        "event_id": episode.event_id,
        "token_id": token_id,
        "tenant": tenant,
        "letter_id": letter.id,
    }


def _canary_letter(tenant: str, rule_id: str) -> DeadLetter:
    """A dead letter of tenant A: its rule raised on an event carrying the canary."""
    event = Event(f"ev-{CANARY}", tenant, T0, {"host": CANARY})
    return rule_failure_letter(RuleFailure(rule_id, tenant, event, f"ValueError: {CANARY}"), T0)


async def _stream_from_start(client: httpx.AsyncClient, seconds: float = 1.0) -> list[str]:
    """Every message of the caller's SSE stream from its start (Last-Event-ID 0), read for `seconds`."""
    seen: list[str] = []

    async def read() -> None:
        async with client.stream("GET", "/cep/events/stream", headers={"Last-Event-ID": "0"}) as stream:
            async for message in sse_messages(stream):
                seen.append(repr(message))

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(read(), timeout=seconds)
    return seen


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, list[str]]]:
    for path, item in document["paths"].items():
        if path.startswith("/cep/") and path not in SKIP:
            for method in item:
                yield method.upper(), path, re.findall(r"\{([^}]+)\}", path)


async def test_no_answer_to_tenant_b_carries_tenant_a_data(gateway: LiveGateway, js: JetStreamContext) -> None:
    ids = await _tenant_a(gateway, js)
    b = new_tenant()
    document = httpx.get(f"{gateway.url}/openapi.json").json()
    leaks: list[str] = []
    reached: list[str] = []
    filters = {"rule_id": ids["rule_id"], "channel": ids["channel_id"], "tenant": ids["tenant"], "q": CANARY}
    for role in ROLES:
        headers = gateway.token(b, role)
        async with httpx.AsyncClient(base_url=gateway.url, headers=headers, timeout=10) as client:
            for method, path, params in _operations(document):
                if method != "GET" and not params:
                    continue  # a collection's POST creates B's own data
                concrete = path
                for name in params:
                    concrete = concrete.replace(f"{{{name}}}", ids.get(name, "x-unknown"))
                response = await client.request(method, concrete, params=filters, json={})
                if CANARY in response.text:
                    leaks.append(f"{role} {method} {path} -> {response.status_code}")
                if params and response.is_success:
                    reached.append(f"{role} {method} {path} -> {response.status_code}")
            leaks.extend(f"{role} SSE {text}" for text in await _stream_from_start(client) if CANARY in text)
    assert not leaks, leaks
    assert not reached, f"tenant B reached tenant A's resources: {reached}"
