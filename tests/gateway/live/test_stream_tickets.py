"""Short-lived SSE stream tickets against a real server: `POST /cep/events/stream/ticket`, then `?ticket=`.

A ticket opens the stream of the tenant and role of the token that asked for it, once, for `CEP_STREAM_TICKET_SECONDS`;
it is signed (not stored), so any replica sharing the key accepts it; a tampered, expired, reused or revoked-token
ticket is a 401, and a ticket is no bearer token anywhere else. Neither a ticket nor `?access_token=` is ever logged.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from nats.js.client import JetStreamContext
from starlette.routing import BaseRoute, Route

from services.common.cli.procs import free_port
from services.gateway.app import create_app
from services.gateway.live.stream_tickets import StreamTickets, TicketError, ticket_key
from services.gateway.state import state_of
from tests.gateway.conftest import ADMIN, ADMIN_SECRET, is_problem, settings_for
from tests.gateway.live_gateway import T0, Episode, LiveGateway, new_tenant, publish_alert, sse_messages, start_gateway

TICKET = "/cep/events/stream/ticket"
STREAM = "/cep/events/stream"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    live = start_gateway(tmp_path_factory.mktemp("tickets"), sse_keepalive_seconds=0.5)
    yield live
    live.stop()


def _ticket(gateway: LiveGateway, headers: dict[str, str]) -> str:
    response = httpx.post(f"{gateway.url}{TICKET}", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    return str(response.json()["ticket"])


async def _first_event(gateway: LiveGateway, js: JetStreamContext, ticket: str, tenants: list[str]) -> str:
    """Open the stream with the ticket, fire one alert in each tenant; the tenant of the first message received."""
    async with (
        httpx.AsyncClient(base_url=gateway.url, timeout=10) as client,
        client.stream("GET", STREAM, params={"ticket": ticket}) as response,
    ):
        assert response.status_code == 200, await response.aread()
        for minute, tenant in enumerate(tenants):
            await publish_alert(js, Episode(tenant, started_at=T0 + timedelta(minutes=minute)).transition("fired"))
        async for message in sse_messages(response):
            if message.comment is None:
                return str(message.json()["tenant"])
    raise AssertionError("the stream ended")


def _reencoded(ticket: str, **changes: object) -> str:
    """The ticket with its claims changed and its signature kept (what a forger can do without the key)."""
    prefix, claims, signature = ticket.split(".")
    payload = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    forged = base64.urlsafe_b64encode(json.dumps({**payload, **changes}).encode()).decode().rstrip("=")
    return f"{prefix}.{forged}.{signature}"


def test_a_ticket_is_short_lived_and_carries_no_token(gateway: LiveGateway) -> None:
    headers = gateway.token(new_tenant(), "viewer")
    before = datetime.now(UTC)
    response = httpx.post(f"{gateway.url}{TICKET}", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"ticket", "expires_at"}
    expires = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    assert before + timedelta(seconds=55) <= expires <= before + timedelta(seconds=65)
    secret = headers["Authorization"].removeprefix("Bearer ")
    assert secret not in body["ticket"] and secret[4:20] not in body["ticket"]


async def test_a_ticket_opens_its_tenants_stream_once(gateway: LiveGateway, js: JetStreamContext) -> None:
    mine, other = new_tenant(), new_tenant()
    ticket = _ticket(gateway, gateway.token(mine, "viewer"))
    assert await _first_event(gateway, js, ticket, [other, mine]) == mine  # the other tenant's alert never shows
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        problem = is_problem(await client.get(STREAM, params={"ticket": ticket}), 401)  # single use
        assert "ticket" in problem["detail"]


async def test_tampered_forged_and_foreign_tickets_are_refused(gateway: LiveGateway) -> None:
    mine, other = new_tenant(), new_tenant()
    gateway.token(other, "admin")
    ticket = _ticket(gateway, gateway.token(mine, "viewer"))
    prefix, claims, signature = ticket.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    attempts = {
        "signature changed": f"{prefix}.{claims}.{flipped}",
        "another tenant": _reencoded(ticket, tenant=other),
        "another role": _reencoded(ticket, role="admin"),
        "a later expiry": _reencoded(ticket, exp=int(time.time()) + 3600),
        "garbage": "not-a-ticket",
        "empty signature": f"{prefix}.{claims}.",
    }
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        for what, forged in attempts.items():
            response = await client.get(STREAM, params={"ticket": forged})
            assert response.status_code == 401, (what, response.text)
        async with client.stream("GET", STREAM, params={"ticket": ticket}) as genuine:
            assert genuine.status_code == 200  # the real one still works


async def test_an_expired_ticket_is_refused(gateway: LiveGateway) -> None:
    tenant = new_tenant()
    headers = gateway.token(tenant, "viewer")
    whoami = httpx.get(f"{gateway.url}/cep/auth/whoami", headers=headers, timeout=10).json()
    tickets = state_of(gateway.app).stream_tickets  # the app's own signer, with its own key
    old, expires_at = tickets.issue(tenant, "viewer", whoami["token_id"], datetime.now(UTC) - timedelta(seconds=61))
    assert expires_at < datetime.now(UTC)
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        problem = is_problem(await client.get(STREAM, params={"ticket": old}), 401)
        assert "expired" in problem["detail"]


async def test_a_revoked_tokens_tickets_stop_working(gateway: LiveGateway) -> None:
    tenant = new_tenant()
    admin = gateway.token(tenant, "admin")
    viewer = gateway.token(tenant, "viewer", name="soon-revoked")
    ticket = _ticket(gateway, viewer)
    token_id = httpx.get(f"{gateway.url}/cep/auth/whoami", headers=viewer, timeout=10).json()["token_id"]
    assert httpx.delete(f"{gateway.url}/cep/auth/tokens/{token_id}", headers=admin, timeout=10).status_code == 204
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        is_problem(await client.get(STREAM, params={"ticket": ticket}), 401)


async def test_a_ticket_is_not_a_bearer_token_and_minting_one_needs_the_header(gateway: LiveGateway) -> None:
    headers = gateway.token(new_tenant(), "editor")
    secret = headers["Authorization"].removeprefix("Bearer ")
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        ticket = (await client.post(TICKET, headers=headers)).json()["ticket"]
        is_problem(await client.get("/cep/rules", headers={"Authorization": f"Bearer {ticket}"}), 401)
        is_problem(await client.get("/cep/events", params={"ticket": ticket}), 401)
        is_problem(await client.get(STREAM, headers={"Authorization": f"Bearer {ticket}"}), 401)
        is_problem(await client.post(TICKET), 401)
        is_problem(await client.post(TICKET, params={"access_token": secret}), 401)  # bearer header only
        is_problem(await client.post(TICKET, params={"ticket": ticket}), 401)  # a ticket does not mint tickets
        assert (await client.post(TICKET, headers=ADMIN)).status_code == 200  # the platform admin too


def _in_order(routes: list[BaseRoute]) -> Iterator[BaseRoute]:
    """Every route in the order the app tries them (FastAPI keeps an included router's routes together)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        yield from _in_order(included.routes) if included is not None else [route]


def test_the_ticket_route_is_not_captured_by_a_parameterised_route(gateway: LiveGateway) -> None:
    """The first route matching POST /cep/events/stream/ticket is the ticket route (routes are tried in order)."""
    routes = [r for r in _in_order(gateway.app.routes) if isinstance(r, Route)]
    assert len(routes) > 50  # the walk sees the whole app
    posts = [r.path for r in routes if r.path_regex.match(TICKET) and "POST" in (r.methods or set())]
    assert posts and posts[0] == TICKET, posts
    gets = [r.path for r in routes if r.path_regex.match(STREAM) and "GET" in (r.methods or set())]
    assert gets[:2] == [STREAM, "/cep/events/{event_id}"], gets  # and the stream is not an event id
    answer = httpx.post(f"{gateway.url}{TICKET}", headers=ADMIN, timeout=10)
    assert answer.status_code == 200 and answer.json()["ticket"].startswith("cst1."), answer.text


def test_neither_tickets_nor_query_tokens_reach_the_access_log(tmp_path: Path) -> None:
    """uvicorn's access log (on here, as an operator may turn it on) shows the query with both values redacted."""
    app = create_app(settings_for(tmp_path))
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, log_level="info", access_log=True)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    keep = Keep()
    logging.getLogger("uvicorn.access").addHandler(keep)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "the gateway did not start"
            time.sleep(0.02)
        url = f"http://127.0.0.1:{port}"
        ticket = httpx.post(f"{url}{TICKET}", headers=ADMIN, timeout=10).json()["ticket"]
        with httpx.stream("GET", f"{url}{STREAM}", params={"ticket": ticket, "last_event_id": "0"}, timeout=10) as r:
            assert r.status_code == 200
        with httpx.stream("GET", f"{url}{STREAM}?access_token={ADMIN_SECRET}&x=1", timeout=10) as r:
            assert r.status_code == 200
        assert httpx.get(f"{url}/cep/events", params={"access_token": "wrong-secret"}, timeout=10).status_code == 401
        deadline = time.monotonic() + 5
        while len([line for line in lines if STREAM in line]) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        logging.getLogger("uvicorn.access").removeHandler(keep)
    logged = "\n".join(lines)
    assert STREAM in logged and "access_token=" in logged and "ticket=" in logged, logged
    for secret in (ticket, ticket.split(".")[-1], ADMIN_SECRET, "wrong-secret"):
        assert secret not in logged, logged
    assert "last_event_id=0" in logged and "x=1" in logged  # other parameters stay readable


def test_replicas_sharing_the_key_accept_each_others_tickets(tmp_path: Path) -> None:
    """The key: CEP_STREAM_TICKET_KEY, else derived from CEP_ADMIN_TOKEN, else a key file in the state dir."""
    now = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    explicit = settings_for(tmp_path / "a", stream_ticket_key="k-shared")
    assert ticket_key(explicit) == ticket_key(settings_for(tmp_path / "b", stream_ticket_key="k-shared"))
    assert ticket_key(explicit) != ticket_key(settings_for(tmp_path / "a"))  # derived from the admin token
    assert ticket_key(settings_for(tmp_path / "a")) != ticket_key(settings_for(tmp_path / "a", admin_token="other"))
    assert ADMIN_SECRET.encode() not in ticket_key(settings_for(tmp_path / "a"))

    no_admin = settings_for(tmp_path / "shared", admin_token=None)
    first, second = ticket_key(no_admin), ticket_key(no_admin)  # two replicas on one state dir: one key file
    assert first == second and len(first) == 32
    assert ((tmp_path / "shared" / "stream-ticket.key").stat().st_mode & 0o777) == 0o600

    one, two = StreamTickets(first, 60), StreamTickets(second, 60)
    ticket, _ = one.issue("acme", "viewer", "tok_1", now)
    assert two.redeem(ticket, now + timedelta(seconds=59)).tenant == "acme"  # another replica: genuine
    assert one.redeem(ticket, now).role == "viewer"
    with pytest.raises(TicketError, match="already used"):
        one.redeem(ticket, now)
    with pytest.raises(TicketError, match="expired"):
        StreamTickets(first, 60).redeem(ticket, now + timedelta(seconds=60))
    with pytest.raises(TicketError, match="not genuine"):
        StreamTickets(ticket_key(explicit), 60).redeem(ticket, now)  # another deployment's key
