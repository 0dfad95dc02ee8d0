"""POST /cep/rules/{rule_id}/trigger: the rule's shard evaluates the occurrence for real and answers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import ray
from fastapi.testclient import TestClient
from nats.aio.client import Client
from nats.aio.msg import Msg

from services.common.domain.evaluation.sharding import Placement
from services.common.domain.events.model import Event, event_time, parse_time
from services.common.messages import codec
from services.common.messages.work import work_trigger
from services.common.nats import subjects
from services.evaluator.options import ShardOptions
from services.evaluator.shard import ShardActor
from services.gateway.app import create_app
from services.gateway.routes import trigger
from tests.common.domain.kit import make_rule, metric
from tests.evaluator.kit import alerts, connect, eventually
from tests.gateway.conftest import create_rule, is_problem, mint, settings_for
from tests.support.nats import NatsServer, start_nats

ROUTER = Path(__file__).resolve().parents[3] / "services" / "ingest" / "router.py"
LAB2 = {
    "name": "critical_errors",
    "trigger_type": "event",
    "trigger_spec": {"event_type": "error", "group_by": ["service"]},
    "conditions": {"field": "severity", "op": "==", "value": "critical"},
    "action_spec": [],
}


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[NatsServer]:
    server = start_nats(tmp_path / "nats")
    yield server
    server.stop()


@pytest.fixture
def gateway(tmp_path: Path, broker: NatsServer) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(tmp_path, nats_url=broker.url))) as client:
        yield client


@pytest.fixture
def tenant(gateway: TestClient) -> tuple[str, dict[str, str]]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    return name, mint(gateway, name, "editor")


@pytest.fixture
async def shard(broker: NatsServer, ray_session: None) -> AsyncIterator[Any]:
    """One shard actor (of one) on the test's broker; started by the test, when the rules it needs exist."""
    actor = ShardActor.options(max_restarts=0).remote(0, ShardOptions(shards=1))  # type: ignore[attr-defined]
    yield actor
    ray.kill(actor, no_restart=True)


async def forward_triggers(nc: Client, tenant: str) -> None:
    """Stand in for the router (services/ingest/router.py): hand each trigger to shard 0 as a trigger work item."""
    js = nc.jetstream()

    async def forward(msg: Msg) -> None:
        headers = msg.headers or {}
        payload = codec.loads(msg.data)
        received = parse_time(headers[subjects.RECEIVED_AT])
        occurrence = Event(
            headers[subjects.MSG_ID], tenant, event_time(payload, received), payload, payload.get("event_type")
        )
        work = work_trigger(occurrence, headers[subjects.TRIGGER_RULE], headers[subjects.TRIGGER_REPLY])
        await js.publish(subjects.work_subject(0), work)

    await nc.subscribe(subjects.internal_subject(tenant), cb=forward)


async def post(client: TestClient, path: str, headers: dict[str, str], body: Any) -> Any:
    return await asyncio.to_thread(client.post, path, headers=headers, json=body)


async def test_the_shard_evaluates_the_rule_for_real_active_or_not(
    gateway: TestClient, tenant: tuple[str, dict[str, str]], broker: NatsServer, shard: Any
) -> None:
    name, editor = tenant
    rule = create_rule(gateway, editor, **LAB2)  # inactive: trigger evaluates it all the same
    assert rule["active"] is False
    await shard.start.remote(broker.url)  # no snapshot: it loads the rule from the rule bucket
    nc, js = await connect(broker.url)
    await forward_triggers(nc, name)
    path = f"/cep/rules/{rule['rule_id']}/trigger"

    warning = await post(gateway, path, editor, {"payload": {"severity": "warning", "service": "api"}})
    assert warning.status_code == 202, warning.text
    assert warning.json() == {"matched": False, "event_id": None, "state": "no_match"}

    critical = await post(gateway, path, editor, {"payload": {"severity": "critical", "service": "api"}})
    assert critical.status_code == 202, critical.text
    body = critical.json()
    assert (body["matched"], body["state"]) == (True, "firing") and body["event_id"]
    # The transition is stored before the answer is sent.
    fired = [a for a in await alerts(js) if a["event_id"] == body["event_id"]]
    assert [(a["kind"], a["rule_id"], a["tenant"]) for a in fired] == [("fired", rule["rule_id"], name)]

    again = await post(gateway, path, editor, {"payload": {"severity": "critical", "service": "api"}})
    assert again.json() == {"matched": True, "event_id": body["event_id"], "state": "firing"}  # absorbed
    await nc.close()


async def test_trigger_refusals(
    gateway: TestClient, tenant: tuple[str, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, editor = tenant
    rule_id = create_rule(gateway, editor, **LAB2)["rule_id"]
    path = f"/cep/rules/{rule_id}/trigger"
    other = mint(gateway, f"t-{uuid.uuid4().hex[:8]}", "editor")
    viewer = mint(gateway, tenant[0], "viewer")
    payload = {"payload": {"severity": "critical"}}
    is_problem(await post(gateway, "/cep/rules/nope/trigger", editor, payload), 404)
    is_problem(await post(gateway, path, other, payload), 404)  # another tenant's rule does not exist for it
    is_problem(await post(gateway, path, viewer, payload), 403)
    is_problem(await post(gateway, path, {}, payload), 401)
    for bad, loc in [
        ({"payload": [1]}, ["payload"]),
        ({}, ["payload"]),
        ({"payload": {}, "extra": 1}, ["extra"]),
        ({"payload": {"timestamp": "yesterday"}}, ["payload", "timestamp"]),
    ]:
        problem = is_problem(await post(gateway, path, editor, bad), 422)
        assert [e["loc"] for e in problem["errors"]] == [loc], problem
    monkeypatch.setattr(trigger, "TRIGGER_TIMEOUT_SECONDS", 0.3)
    is_problem(await post(gateway, path, editor, payload), 504)  # nothing routes it to a shard here


@pytest.mark.slow  # several seconds: make test keeps its budget
@pytest.mark.skipif(not ROUTER.exists(), reason="the router (services/ingest/router.py) is not there yet")
async def test_the_full_path_through_the_router(
    gateway: TestClient,
    tenant: tuple[str, dict[str, str]],
    broker: NatsServer,
    shard: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from services.ingest.app import IngestService
    from services.ingest.settings import IngestSettings

    monkeypatch.setenv("CEP_NATS_URL", broker.url)
    monkeypatch.setenv("CEP_SHARDS", "1")
    nc, js = await connect(broker.url)
    kv = await js.key_value(subjects.CONTROL_BUCKET)
    await kv.put(subjects.SHARD_MAP_KEY, codec.dumps({"epoch": 1, "shards": 1, "placement": "series"}))
    await shard.start.remote(broker.url)  # before the rule exists: the rule reaches it through the stream
    ingest = IngestService(IngestSettings())
    await ingest.start()
    try:
        _, editor = tenant
        rule = create_rule(gateway, editor, **LAB2)
        path = f"/cep/rules/{rule['rule_id']}/trigger"
        response = await post(gateway, path, editor, {"payload": {"severity": "critical", "service": "api"}})
        assert response.status_code == 202, response.text
        assert (response.json()["matched"], response.json()["state"]) == (True, "firing")

        async def recorded() -> bool:
            return any(a["event_id"] == response.json()["event_id"] for a in await alerts(js))

        await eventually(recorded, "the fired transition")
    finally:
        await ingest.stop()
        await nc.close()


@pytest.mark.skipif(not ROUTER.exists(), reason="the router (services/ingest/router.py) is not there yet")
@pytest.mark.slow  # 6-30 s: `make test-slow` keeps `make test` under 10 minutes
async def test_with_two_shards_the_shard_of_the_series_answers(
    gateway: TestClient, tenant: tuple[str, dict[str, str]], broker: NatsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rule groups by service: each occurrence is judged where its series lives, and the other shard never
    holds that series (a second trigger of the same service is absorbed by the same episode)."""
    from services.ingest.app import IngestService
    from services.ingest.settings import IngestSettings

    monkeypatch.setenv("CEP_NATS_URL", broker.url)
    nc, js = await connect(broker.url)
    kv = await js.key_value(subjects.CONTROL_BUCKET)
    await kv.put(subjects.SHARD_MAP_KEY, codec.dumps({"epoch": 1, "shards": 2, "placement": "series"}))
    actors = [ShardActor.options(max_restarts=0).remote(n, ShardOptions(shards=2)) for n in range(2)]  # type: ignore[attr-defined]
    ingest = IngestService(IngestSettings(shards=2))
    try:
        for actor in actors:
            await actor.start.remote(broker.url)
        await ingest.start()
        name, editor = tenant
        rule = create_rule(gateway, editor, **LAB2)
        path = f"/cep/rules/{rule['rule_id']}/trigger"
        by_service = make_rule(metric(group_by=["service"]), "any", tenant=name)  # series placed as LAB2's
        services = {Placement(2).series_shard(by_service, f"service=s{n}"): f"s{n}" for n in range(20)}
        assert sorted(services) == [0, 1]
        answers = {}
        for shard, service in services.items():
            body = {"payload": {"severity": "critical", "service": service}}
            first, again = [(await post(gateway, path, editor, body)).json() for _ in range(2)]
            assert (first["matched"], first["state"]) == (True, "firing") and again == first
            answers[shard] = first["event_id"]

        async def recorded() -> bool:
            return {a["event_id"] for a in await alerts(js) if a["kind"] == "fired"} == set(answers.values())

        await eventually(recorded, "one fired transition per service")
        for actor in actors:  # each shard judged its own service's occurrences, and only those
            assert (await actor.status.remote())["counters"]["transitions"] == {"fired": 1, "updated": 1}
    finally:
        await ingest.stop()
        for actor in actors:
            ray.kill(actor, no_restart=True)
        await nc.close()
