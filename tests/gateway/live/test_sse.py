"""`GET /cep/events/stream` against a real server: only new messages, exact resume, query token, keep-alive."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from nats.js.client import JetStreamContext

from services.common.messages import codec
from services.common.nats import subjects
from tests.gateway.conftest import is_problem
from tests.gateway.live_gateway import (
    T0,
    Episode,
    LiveGateway,
    SseMessage,
    feed_count,
    new_tenant,
    publish_alert,
    sse_messages,
    start_gateway,
)
from tests.support.nats import dead_letters, start_nats
from tests.support.waiting import eventually_async

KEEPALIVE = 0.5


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    live = start_gateway(tmp_path_factory.mktemp("sse"), sse_keepalive_seconds=KEEPALIVE)
    yield live
    live.stop()


@asynccontextmanager
async def stream(
    gateway: LiveGateway, headers: dict[str, str] | None = None, **params: Any
) -> AsyncIterator[tuple[httpx.Response, AsyncIterator[SseMessage]]]:
    async with (
        httpx.AsyncClient(base_url=gateway.url, timeout=10) as client,
        client.stream("GET", "/cep/events/stream", headers=headers or {}, params=params) as response,
    ):
        yield response, sse_messages(response)


async def next_message(messages: AsyncIterator[SseMessage], timeout: float = 5.0) -> SseMessage:
    """The next real message (keep-alive comments skipped)."""
    async with asyncio.timeout(timeout):
        async for message in messages:
            if message.comment is None:
                return message
    raise AssertionError("the stream ended")


async def _fire(js: JetStreamContext, tenant: str, minute: int) -> Episode:
    episode = Episode(tenant, started_at=T0 + timedelta(minutes=minute), group_key=f"m={minute}")
    await publish_alert(js, episode.transition("fired"))
    return episode


async def _fed(js: JetStreamContext, tenant: str, count: int) -> None:
    async def enough() -> bool:
        return await feed_count(js, tenant) >= count

    await eventually_async(enough)


async def test_a_fresh_connection_gets_only_new_messages(gateway: LiveGateway, js: JetStreamContext) -> None:
    tenant = new_tenant()
    headers = gateway.token(tenant, "viewer")
    await _fire(js, tenant, 0)
    await _fed(js, tenant, 1)  # history the fresh connection must not replay
    async with stream(gateway, headers) as (response, messages):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert "content-encoding" not in response.headers
        started = time.perf_counter()
        episode = await _fire(js, tenant, 1)
        message = await next_message(messages)
        latency_ms = (time.perf_counter() - started) * 1000
    print(f"\nalert publish -> SSE receipt: {latency_ms:.1f} ms")
    assert (message.event, message.id) == ("fired", "2")
    event = message.json()
    assert (event["event_id"], event["status"], event["tenant"]) == (episode.event_id, "open", tenant)
    assert latency_ms < 2000


async def test_last_event_id_replays_exactly_the_later_messages(gateway: LiveGateway, js: JetStreamContext) -> None:
    tenant = new_tenant()
    headers = gateway.token(tenant, "viewer")
    episodes = [await _fire(js, tenant, minute) for minute in range(4)]
    await _fed(js, tenant, 4)
    async with stream(gateway, {**headers, "Last-Event-ID": "2"}) as (_, messages):
        replayed = [await next_message(messages) for _ in range(2)]
        assert [m.id for m in replayed] == ["3", "4"]
        assert [m.json()["event_id"] for m in replayed] == [e.event_id for e in episodes[2:]]
        live = await _fire(js, tenant, 9)  # then live, with no gap and no repeat
        message = await next_message(messages)
        assert (message.id, message.json()["event_id"]) == ("5", live.event_id)
    async with stream(gateway, headers, last_event_id="4") as (_, messages):  # the query form
        assert (await next_message(messages)).id == "5"


async def test_acks_and_updates_are_on_the_stream(gateway: LiveGateway, js: JetStreamContext) -> None:
    tenant = new_tenant()
    viewer, editor = gateway.token(tenant, "viewer"), gateway.token(tenant, "editor", name="bob")
    async with stream(gateway, viewer) as (_, messages):
        episode = await _fire(js, tenant, 0)
        assert (await next_message(messages)).event == "fired"
        at = episode.started_at + timedelta(seconds=30)
        await publish_alert(js, episode.transition("updated", at=at, count=2))
        updated = await next_message(messages)
        assert (updated.event, updated.json()["count"]) == ("updated", 2)
        async with httpx.AsyncClient(base_url=gateway.url, headers=editor) as client:
            assert (await client.post(f"/cep/events/{episode.event_id}/ack", json={"note": "mine"})).status_code == 200
        acked = await next_message(messages)
        assert (acked.event, acked.json()["status"], acked.json()["acked_by"]) == ("acked", "acked", "bob")


async def test_the_query_token_works_and_auth_is_required(gateway: LiveGateway, js: JetStreamContext) -> None:
    tenant = new_tenant()
    secret = gateway.token(tenant, "viewer")["Authorization"].removeprefix("Bearer ")
    async with stream(gateway, access_token=secret) as (response, messages):
        assert response.status_code == 200
        await _fire(js, tenant, 0)
        assert (await next_message(messages)).event == "fired"
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        is_problem(await client.get("/cep/events/stream"), 401)
        is_problem(await client.get("/cep/events/stream", params={"access_token": "wrong"}), 401)
        bad_resume = {"Last-Event-ID": "x"}
        is_problem(await client.get("/cep/events/stream", headers=bad_resume, params={"access_token": secret}), 422)
        assert (await client.get("/cep/events", params={"access_token": secret})).status_code == 401  # only the stream


async def test_keep_alive_comments_arrive(gateway: LiveGateway) -> None:
    headers = gateway.token(new_tenant(), "viewer")
    async with stream(gateway, headers) as (_, messages):
        started = time.monotonic()
        async with asyncio.timeout(KEEPALIVE * 6):
            first = await anext(messages)
        assert first.comment is not None  # nothing else happens on this tenant's stream
        assert time.monotonic() - started < KEEPALIVE * 4


async def test_the_consumer_goes_when_the_client_does(gateway: LiveGateway, js: JetStreamContext) -> None:
    tenant = new_tenant()
    headers = gateway.token(tenant, "viewer")

    async def consumers() -> int:
        return int((await js.stream_info(subjects.feed_stream(tenant))).state.consumer_count)

    async with stream(gateway, headers) as (response, _):
        assert response.status_code == 200
        assert await consumers() == 1

    async def gone() -> bool:
        return await consumers() == 0

    await eventually_async(gone, timeout=5)


async def test_stream_is_not_taken_for_an_event_id(gateway: LiveGateway) -> None:
    headers = gateway.token(new_tenant(), "viewer")
    async with stream(gateway, headers) as (response, _):
        assert response.status_code == 200  # the static route, not GET /cep/events/{event_id} with id "stream"


@pytest.mark.slow  # several seconds: make test keeps its budget
async def test_a_broker_restart_loses_nothing_on_the_stream(tmp_path: Path) -> None:
    """The recorder rebinds and the SSE consumer is recreated after the last id sent: no gap, no repeat."""
    server = start_nats(tmp_path / "nats")
    live = start_gateway(tmp_path / "gw", nats_url=server.url)
    client = await nats.connect(server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    try:
        js = client.jetstream()
        tenant = new_tenant()
        headers = live.token(tenant, "viewer")
        async with stream(live, headers) as (_, messages):
            first = await _fire(js, tenant, 0)
            assert (await next_message(messages)).json()["event_id"] == first.event_id
            await asyncio.to_thread(server.restart)
            second = await eventually_async(lambda: _try_fire(js, tenant, 1), timeout=20, every=0.2)
            message = await next_message(messages, timeout=20)
            assert (message.id, message.json()["event_id"]) == ("2", second.event_id)
    finally:
        await client.close()
        live.stop()
        server.stop()


async def _try_fire(js: JetStreamContext, tenant: str, minute: int) -> Episode | None:
    try:
        return await _fire(js, tenant, minute)
    except Exception:
        return None  # still reconnecting


async def test_a_feed_message_that_does_not_decode_is_skipped_and_dead_lettered(
    gateway: LiveGateway, js: JetStreamContext
) -> None:
    tenant = new_tenant()
    headers = gateway.token(tenant, "viewer")
    await _fire(js, tenant, 0)
    await _fed(js, tenant, 1)
    await js.publish(subjects.feed_subject(tenant), codec.dumps({"type": "fired", "event": {"tenant": tenant}}))
    later = await _fire(js, tenant, 1)
    await _fed(js, tenant, 3)
    async with stream(gateway, {**headers, "Last-Event-ID": "1"}) as (_, messages):
        message = await next_message(messages)
    assert (message.id, message.json()["event_id"]) == ("3", later.event_id)
    letters = await eventually_async(lambda: dead_letters(js, tenant))
    assert [(x.source, x.error) for x in letters] == [("undecodable", "feed-reader: event.event_id: Field required")]
