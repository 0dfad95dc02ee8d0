"""POST /cep/ingest: 202 only after every accepted item is in JetStream; per-item rejects; 503 when NATS dies."""

from __future__ import annotations

import asyncio
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import orjson
import pytest
from fastapi.testclient import TestClient
from nats.js.api import ConsumerConfig, DeliverPolicy

from services.common.domain.events.intake import RESERVED_ERROR
from services.common.domain.events.model import parse_time
from services.common.nats import subjects
from services.common.nats.publishing import PUBLISH_TIMEOUT_SECONDS
from services.gateway.app import create_app
from services.gateway.state import state_of
from tests.gateway.conftest import is_problem, mint, settings_for
from tests.support.nats import NatsServer, start_nats


def _tenant() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


def _ready(client: TestClient) -> TestClient:
    """Wait until the gateway holds its NATS connection (it connects in the background at start)."""
    deadline = time.monotonic() + 10
    while not state_of(client.app).bus.is_ready and time.monotonic() < deadline:
        time.sleep(0.02)
    return client


@pytest.fixture
def ready(client: TestClient) -> TestClient:
    """The gateway, connected to the session's NATS."""
    return _ready(client)


async def _stored(url: str, tenant: str) -> list[tuple[str, dict[str, str], Any]]:
    """(Nats-Msg-Id, headers, body) of every message on the tenant's ingest subject, in stream order."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        subject = subjects.ingest_subject(tenant)
        info = await js.stream_info(subjects.EVENTS_STREAM, subjects_filter=subject)
        count = (info.state.subjects or {}).get(subject, 0)
        if not count:
            return []
        config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL, filter_subject=subject)
        sub = await js.pull_subscribe(subject, stream=subjects.EVENTS_STREAM, config=config)
        out: list[tuple[str, dict[str, str], Any]] = []
        while len(out) < count:
            for msg in await sub.fetch(min(500, count - len(out)), timeout=5):
                headers = dict(msg.headers or {})
                out.append((headers[subjects.MSG_ID], headers, orjson.loads(msg.data)))
                await msg.ack()
        await sub.unsubscribe()
        return out
    finally:
        await nc.close()


def stored(url: str, tenant: str) -> list[tuple[str, dict[str, str], Any]]:
    return asyncio.run(_stored(url, tenant))


def test_an_array_is_accepted_item_by_item_and_durable(ready: TestClient, nats_server: NatsServer) -> None:
    tenant = _tenant()
    headers = mint(ready, tenant, "editor")
    items = [
        {"cpu_usage": 91, "host": "a"},
        "not an object",
        {"event_type": "deploy", "timestamp": "2024-05-01T12:00:00Z"},
        {"timestamp": "yesterday"},
        {"event_type": "cep.schedule"},
        {"metric": "cpu_usage", "value": 3, "timestamp": 1714564800123},
    ]
    response = ready.post("/cep/ingest", headers=headers, json=items)
    assert response.status_code == 202, response.text
    body = response.json()
    assert set(body) == {"accepted", "rejected", "event_ids"}
    assert body["accepted"] == 3 and len(body["event_ids"]) == 3
    assert [r["index"] for r in body["rejected"]] == [1, 3, 4]
    assert body["rejected"][2]["error"] == RESERVED_ERROR
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in body["event_ids"])
    found = stored(nats_server.url, tenant)
    assert [msg_id for msg_id, _, _ in found] == body["event_ids"]
    assert [data for _, _, data in found] == [items[0], items[2], items[5]]
    received = {h[subjects.RECEIVED_AT] for _, h, _ in found}
    assert len(received) == 1 and parse_time(received.pop()).tzinfo is not None


@pytest.mark.parametrize(
    ("content", "content_type", "accepted", "rejected"),
    [
        (b'{"cpu_usage": 1}', "application/json", 1, []),
        (b'{"a": 1}\n{"a": 2}\n{broken\n{"a": 4}\n', "application/x-ndjson", 3, [2]),
        (b'{"a": 1}\n{"a": 2}\n', "application/json", 2, []),  # sniffed NDJSON
        (b"[]", "application/json", 0, []),
        (b'[1, 2, {"event_type": "cep.ack.sla_breached"}]', "application/json", 0, [0, 1, 2]),
    ],
)
def test_bodies(ready: TestClient, content: bytes, content_type: str, accepted: int, rejected: list[int]) -> None:
    headers = {**mint(ready, _tenant(), "editor"), "Content-Type": content_type}
    response = ready.post("/cep/ingest", headers=headers, content=content)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["accepted"] == accepted == len(body["event_ids"])
    assert [r["index"] for r in body["rejected"]] == rejected


@pytest.mark.parametrize("content", [b"", b"not json", b'{"a": 1', b"NaN", b"\xff"])
def test_a_body_that_is_not_json_is_a_400(ready: TestClient, content: bytes) -> None:
    headers = {**mint(ready, _tenant(), "editor"), "Content-Type": "application/json"}
    is_problem(ready.post("/cep/ingest", headers=headers, content=content), 400)


def test_roles(ready: TestClient) -> None:
    tenant = _tenant()
    is_problem(ready.post("/cep/ingest", json={"a": 1}), 401)
    is_problem(ready.post("/cep/ingest", headers=mint(ready, tenant, "viewer"), json={"a": 1}), 403)
    assert ready.post("/cep/ingest", headers=mint(ready, tenant, "admin"), json={"a": 1}).status_code == 202


def test_the_tenant_comes_from_the_token(ready: TestClient, nats_server: NatsServer) -> None:
    mine, other = _tenant(), _tenant()
    response = ready.post("/cep/ingest", headers=mint(ready, mine, "editor"), json={"tenant": other, "x": 1})
    assert response.status_code == 202
    assert [i for i, _, _ in stored(nats_server.url, mine)] == response.json()["event_ids"]
    assert stored(nats_server.url, other) == []


def test_a_body_over_the_limit_is_a_413(tmp_path: Path) -> None:
    with TestClient(create_app(settings_for(tmp_path, max_body_bytes=1000))) as client:
        headers = mint(_ready(client), _tenant(), "editor")
        is_problem(client.post("/cep/ingest", headers=headers, json=[{"v": i} for i in range(500)]), 413)


def test_a_large_request_is_fully_persisted(ready: TestClient, nats_server: NatsServer) -> None:
    tenant = _tenant()
    started = time.perf_counter()
    response = ready.post("/cep/ingest", headers=mint(ready, tenant, "editor"), json=[{"v": i} for i in range(5000)])
    elapsed = time.perf_counter() - started
    assert response.status_code == 202 and response.json()["accepted"] == 5000
    found = stored(nats_server.url, tenant)
    assert [i for i, _, _ in found] == response.json()["event_ids"]  # in body order, every one
    assert [d["v"] for _, _, d in found] == list(range(5000))
    print(f"5000 items ingested in {elapsed:.3f}s")


@pytest.fixture
def private_nats(tmp_path: Path) -> Iterator[NatsServer]:
    server = start_nats(tmp_path / "nats")
    yield server
    server.stop()


def _in_msgs(monitor_url: str) -> int:
    with urllib.request.urlopen(f"{monitor_url}/varz", timeout=1) as response:
        return int(orjson.loads(response.read())["in_msgs"])


def test_no_202_when_nats_dies_mid_request(tmp_path: Path, private_nats: NatsServer) -> None:
    items = [{"v": i, "pad": "x" * 20} for i in range(5000)]
    settings = settings_for(tmp_path, nats_url=private_nats.url)
    with TestClient(create_app(settings)) as client:
        headers = mint(_ready(client), _tenant(), "editor")
        baseline = _in_msgs(private_nats.monitor_url)
        killed = threading.Event()
        killed_at: list[float] = []

        def kill_after_first_pubacks() -> None:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                if _in_msgs(private_nats.monitor_url) >= baseline + 300:
                    private_nats.proc.kill()
                    killed_at.append(time.perf_counter())
                    killed.set()
                    return
                time.sleep(0.002)

        killer = threading.Thread(target=kill_after_first_pubacks)
        killer.start()
        response = client.post("/cep/ingest", headers=headers, json=items)
        answered = time.perf_counter()
        killer.join()
        assert killed.is_set(), "the server was not killed during the request"
        body = is_problem(response, 503)
        assert response.headers["Retry-After"] == "1"
        persisted = int(body["detail"].split("ingest: ", 1)[1].split(" of ", 1)[0])
        assert 0 < persisted < 5000 and " of 5000 valid items" in body["detail"]
        # timed from the kill (what came before it, 5,000 items validated and hundreds published, is slow on a loaded
        # machine): a request waiting out a PubAck would answer PUBLISH_TIMEOUT_SECONDS after its last publish
        waited = answered - killed_at[0]
        assert waited < 0.8 * PUBLISH_TIMEOUT_SECONDS, (
            "a dropped connection fails the request at once, not after the PubAck timeout"
        )
        print(f"503 {waited:.3f}s after the kill with {persisted} of 5000 confirmed")
        # While NATS stays down, a new ingest is a 503 too (never a 202).
        is_problem(client.post("/cep/ingest", headers=headers, json={"v": 1}), 503)
