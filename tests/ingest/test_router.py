"""The router against a real nats-server: exact shard fan-out, rule order, replays, restarts and the shard map."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import nats
import orjson
import pytest
from nats.aio.client import Client
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext

from services.common.domain.evaluation.sharding import shard_for
from services.common.domain.rules.model import Rule
from services.common.messages import codec
from services.common.messages.work import RuleChange
from services.common.nats import subjects
from services.common.nats.streams import ensure_streams
from services.ingest.app import IngestService
from services.ingest.router import Router
from services.ingest.router_consumer import bind_router_consumer
from services.ingest.settings import IngestSettings
from tests.common.domain.kit import T0, make_rule, metric
from tests.support.nats import NatsServer, start_nats

TENANT = "acme"
FETCH = 0.2  # seconds a fetch waits: also how long a router takes to stop
WorkLog = dict[int, list[tuple[str, dict[str, Any]]]]  # shard -> [(id, work item)] in stream order


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[NatsServer]:
    """A private nats-server: the router reads the whole raw stream, so it must not see other tests' events."""
    server = start_nats(tmp_path / "nats")
    yield server
    server.stop()


@pytest.fixture
async def js(broker: NatsServer) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(broker.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    context = nc.jetstream()
    await ensure_streams(context)
    yield context
    await nc.close()


@pytest.fixture
async def router_nc(broker: NatsServer) -> AsyncIterator[Client]:
    nc = await nats.connect(broker.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    yield nc
    await nc.close()


def rule_on_shard(shard: int, shards: int = 2, avoid: set[str] | None = None) -> str:
    n = 0
    while shard_for(f"rule-{n}", shards) != shard or f"rule-{n}" in (avoid or set()):
        n += 1
    return f"rule-{n}"


async def change(js: JetStreamContext, rule: Rule | None, *, rule_id: str = "", version: int = 0) -> None:
    """Publish a rule change the way the gateway does: the control subject, then the rule bucket."""
    kv = await js.key_value(subjects.RULES_BUCKET)
    if rule is None:
        message = RuleChange("delete", TENANT, rule_id, version, None, T0)
        await kv.delete(subjects.rule_key(TENANT, rule_id))
    else:
        message = RuleChange("upsert", rule.tenant, rule.rule_id, rule.version, rule.canonical(), T0)
    headers = {subjects.MSG_ID: message.msg_id()}
    await js.publish(subjects.CONTROL_RULES, codec.dumps(message.as_dict()), headers=headers)
    if rule is not None:
        await kv.put(subjects.rule_key(rule.tenant, rule.rule_id), codec.dumps(rule.canonical()))


async def put_rule(js: JetStreamContext, rule: Rule) -> None:
    """Only the rule bucket (a rule whose change is older than the stream the router reads)."""
    kv = await js.key_value(subjects.RULES_BUCKET)
    await kv.put(subjects.rule_key(rule.tenant, rule.rule_id), codec.dumps(rule.canonical()))


async def send(js: JetStreamContext, payload: Any, event_id: str, tenant: str = TENANT) -> None:
    await js.publish(subjects.ingest_subject(tenant), orjson.dumps(payload), headers={subjects.MSG_ID: event_id})


async def running(router: Router, timeout: float = 10) -> Router:
    """Start a router and wait until its consumer is bound (its rule table loaded)."""
    await router.start()
    deadline = time.monotonic() + timeout
    while not router.running:
        assert time.monotonic() < deadline, router.stats.last_error
        await asyncio.sleep(0.01)
    return router


async def routed(js: JetStreamContext, durable: str = subjects.ROUTER_CONSUMER, timeout: float = 10) -> None:
    """Wait until the router has acked everything in the raw stream."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        last = (await js.stream_info(subjects.EVENTS_STREAM)).state.last_seq
        try:
            info = await js.consumer_info(subjects.EVENTS_STREAM, durable)
        except nats.js.errors.NotFoundError:
            info = None
        if info is not None and info.ack_floor.stream_seq >= last and not info.num_ack_pending:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the router did not catch up")


async def work(js: JetStreamContext, applied: bool = True) -> WorkLog:
    """Every item of the work stream, by shard, in stream order: a batch of events as one item per event
    (`<event id>:<shard>`), and with `applied` without the copies a shard skips (raw position already seen)."""
    total = (await js.stream_info(subjects.WORK_STREAM)).state.messages
    found: WorkLog = {}
    if not total:
        return found
    config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
    sub = await js.pull_subscribe(f"{subjects.WORK_PREFIX}.*", stream=subjects.WORK_STREAM, config=config)
    seen = 0
    while seen < total:
        for msg in await sub.fetch(min(500, total - seen), timeout=5):
            seen += 1
            await msg.ack()
            if msg.subject == subjects.WORK_EPOCH:  # the router's shard-map epoch marker, not shard work
                continue
            shard = int(msg.subject.rsplit(".", 1)[1])
            body = orjson.loads(msg.data)
            if body["kind"] == "events":
                items = [(f"{item['event']['event_id']}:{shard}", item) for item in body["events"]]
            else:
                items = [((msg.headers or {})[subjects.MSG_ID], body)]
            found.setdefault(shard, []).extend(items)
    await sub.unsubscribe()
    return {shard: _applied(items) for shard, items in found.items()} if applied else found


def _applied(items: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """What a shard applies: items at or before the last raw position it applied are replayed copies."""
    done, out = (0, 0), []
    for entry in items:
        body = entry[1]
        raw = (body["seq"], body["index"]) if "event" in body and "seq" in body else tuple(body.get("raw") or ())
        if raw:
            if raw <= done:
                continue
            done = raw
        out.append(entry)
    return out


def ids(log: WorkLog) -> dict[int, list[str]]:
    return {shard: [i for i, _ in items] for shard, items in log.items()}


async def test_events_reach_exactly_the_shards_of_their_candidate_rules(
    js: JetStreamContext, router_nc: Client
) -> None:
    on0, on1 = rule_on_shard(0), rule_on_shard(1)
    await put_rule(js, make_rule(metric("cpu"), on0, tenant=TENANT))  # known from the bucket at start
    router = await running(Router(router_nc, default_shards=2, fetch_seconds=FETCH))
    try:
        await change(
            js, make_rule({"trigger_type": "event", "trigger_spec": {"event_type": "deploy"}}, on1, tenant=TENANT)
        )
        await send(js, {"cpu": 91}, "a")  # rule on0 only
        await send(js, {"event_type": "deploy"}, "b")  # rule on1 only
        await send(js, {"cpu": 5, "event_type": "deploy"}, "c")  # both
        await send(js, {"memory": 1}, "d")  # none
        await send(js, {"cpu": 1}, "e", tenant="other")  # another tenant: none
        await js.publish(subjects.ingest_subject(TENANT), b'[{"cpu": 1}, 7, {"event_type": "cep.x"}]')  # f, seq-ids
        await routed(js)
        seq = (await js.stream_info(subjects.EVENTS_STREAM)).state.last_seq
        log = await work(js)
        assert ids(log) == {
            0: ["a:0", "c:0", f"{seq}.0:0"],
            1: [f"rule:{on1}:1:upsert:1", "b:1", "c:1"],
        }
        assert router.stats.dropped == 2  # the number and the reserved event type
        assert (await router.check()).ok
    finally:
        await router.stop()


async def test_an_out_of_range_timestamp_is_dropped_and_counted_not_fatal(
    js: JetStreamContext, router_nc: Client
) -> None:
    on0 = rule_on_shard(0)
    await put_rule(js, make_rule(metric("cpu"), on0, tenant=TENANT))
    router = await running(Router(router_nc, default_shards=2, fetch_seconds=FETCH))
    try:
        items = [{"cpu": 1, "timestamp": "9999-12-31T23:59:59-12:00"}, {"cpu": 2}, {"cpu": 3, "timestamp": 1e20}]
        await send(js, items, "a")
        await send(js, {"cpu": 4}, "b")  # the router carries on with the next message
        await routed(js)
        assert ids(await work(js)) == {0: ["a.1:0", "b:0"]}
        assert router.stats.dropped == 2
        assert (await router.check()).ok
    finally:
        await router.stop()


async def test_rule_changes_reach_the_owning_shard_in_order(js: JetStreamContext, router_nc: Client) -> None:
    rid = rule_on_shard(1)
    router = await running(Router(router_nc, default_shards=2, fetch_seconds=FETCH))
    try:
        await change(js, make_rule(metric("cpu"), rid, tenant=TENANT))
        await send(js, {"cpu": 1}, "a")
        await change(js, make_rule(metric("memory"), rid, tenant=TENANT, version=2))
        await send(js, {"cpu": 1}, "b")
        await send(js, {"memory": 1}, "c")
        await change(js, make_rule(metric("memory"), rid, tenant=TENANT, version=3, active=False))
        await send(js, {"memory": 1}, "d")
        await change(js, make_rule(metric("memory"), rid, tenant=TENANT, version=4))
        await send(js, {"memory": 1}, "e")
        await change(js, None, rule_id=rid, version=5)
        await send(js, {"memory": 1}, "f")
        await routed(js)
        log = await work(js)
        assert ids(log) == {
            1: [
                f"rule:{rid}:1:upsert:1",
                "a:1",
                f"rule:{rid}:2:upsert:1",
                "c:1",
                f"rule:{rid}:3:upsert:1",
                f"rule:{rid}:4:upsert:1",
                "e:1",
                f"rule:{rid}:5:delete:1",
            ]
        }
        assert [w["change"]["version"] for _, w in log[1] if w.get("kind") == "rule"] == [1, 2, 3, 4, 5]
    finally:
        await router.stop()


async def test_a_replay_with_other_batch_boundaries_applies_nothing_twice(
    js: JetStreamContext, router_nc: Client
) -> None:
    rid = rule_on_shard(0)
    await change(js, make_rule(metric("cpu"), rid, tenant=TENANT))
    for n in range(300):
        await send(js, {"cpu": n}, f"e{n}")
    first = await running(Router(router_nc, default_shards=2, fetch_seconds=FETCH))
    await routed(js)
    await first.stop()
    before = await work(js)
    assert len(before[0]) == 301 and first.stats.work_duplicates == 0
    assert first.stats.work_published < 20  # a few batched messages, not one per event
    stored = (await js.stream_info(subjects.WORK_STREAM)).state.messages
    await js.delete_consumer(subjects.EVENTS_STREAM, subjects.ROUTER_CONSUMER)
    again = await running(Router(router_nc, default_shards=2, batch=7, fetch_seconds=FETCH))  # other boundaries
    try:
        await routed(js)
        assert again.stats.work_duplicates == 1  # the rule change keeps its id: JetStream dropped the copy
        assert (await js.stream_info(subjects.WORK_STREAM)).state.messages > stored  # the batches are new ids
        copies = await work(js, applied=False)
        assert len(copies[0]) == 301 + 300  # every event routed twice ...
        assert await work(js) == before  # ... and every copy recognised by its raw position
    finally:
        await again.stop()


async def test_a_router_that_died_mid_batch_is_resumed_at_the_ack_floor(
    js: JetStreamContext, router_nc: Client
) -> None:
    rid = rule_on_shard(0)
    await change(js, make_rule(metric("cpu"), rid, tenant=TENANT))
    for n in range(20):
        await send(js, {"cpu": n}, f"e{n}")
    # A router that fetched a batch and died before acking it.
    dead = await bind_router_consumer(js, subjects.ROUTER_CONSUMER)
    taken = await dead.fetch(15, timeout=2)
    for msg in taken[:5]:
        await msg.ack_sync()
    await dead.unsubscribe()
    info = await js.consumer_info(subjects.EVENTS_STREAM, subjects.ROUTER_CONSUMER)
    assert info.num_ack_pending == 10 and info.ack_floor.stream_seq == 5
    router = await running(Router(router_nc, default_shards=2, fetch_seconds=FETCH))
    try:
        await routed(js)
        # Sequences 6..21 are routed in order (1..5 were "handled" by the dead router, which published nothing).
        assert ids(await work(js)) == {0: [f"e{n}:0" for n in range(4, 20)]}
    finally:
        await router.stop()


async def test_the_shard_map_decides_the_shard_count(js: JetStreamContext, router_nc: Client) -> None:
    control = await js.key_value(subjects.CONTROL_BUCKET)
    await control.put(subjects.SHARD_MAP_KEY, codec.dumps({"epoch": 3, "shards": 5}))
    rules = [f"r{n}" for n in range(12)]
    for rid in rules:
        await change(js, make_rule(metric("cpu"), rid, tenant=TENANT))
    router = await running(Router(router_nc, default_shards=2, fetch_seconds=FETCH))
    try:
        await send(js, {"cpu": 1}, "x")
        await routed(js)
        log = ids(await work(js))
        owners = {shard_for(rid, 5) for rid in rules}
        assert {s for s, items in log.items() if "x:" + str(s) in items} == owners
        assert router.stats.shards == 5
        marker = await js.get_last_msg(subjects.WORK_STREAM, subjects.WORK_EPOCH)  # announced before routing
        assert codec.loads(marker.data or b"") == {"epoch": 3, "shards": 5}
        assert marker.seq == 1  # before any work routed with that map
    finally:
        await router.stop()


async def test_a_broker_restart_loses_nothing(broker: NatsServer, js: JetStreamContext, router_nc: Client) -> None:
    rid = rule_on_shard(1)
    await change(js, make_rule(metric("cpu"), rid, tenant=TENANT))
    router = await running(Router(router_nc, default_shards=2, fetch_seconds=FETCH))
    try:
        for n in range(200):
            await send(js, {"cpu": n}, f"a{n}")
        await asyncio.to_thread(broker.restart)
        for n in range(200):
            await send(js, {"cpu": n}, f"b{n}")
        await routed(js, timeout=30)
        got = ids(await work(js))[1]
        expected = [f"rule:{rid}:1:upsert:1", *(f"a{n}:1" for n in range(200)), *(f"b{n}:1" for n in range(200))]
        assert sorted(got) == sorted(expected) and len(got) == len(set(got))
        assert got[0] == expected[0]
    finally:
        await router.stop()


async def test_the_ingest_service_is_ready_when_its_router_runs(broker: NatsServer, js: JetStreamContext) -> None:
    service = IngestService(IngestSettings(nats_url=broker.url, shards=2))
    checks = service.checks()
    assert not (await checks["router"]()).ok
    await service.start()
    try:
        deadline = time.monotonic() + 10
        while not (await checks["router"]()).ok and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert (await checks["router"]()).ok and (await checks["nats"]()).ok
    finally:
        await service.stop()


async def test_changes_made_while_the_router_was_down_do_not_lose_earlier_events(
    js: JetStreamContext, router_nc: Client
) -> None:
    rid = rule_on_shard(0)
    await change(js, make_rule(metric("cpu"), rid, tenant=TENANT))
    await send(js, {"cpu": 1}, "a")  # matched version 1 when it was ingested
    await change(js, make_rule(metric("memory"), rid, tenant=TENANT, version=2))  # the bucket now holds v2
    await send(js, {"memory": 1}, "b")
    router = await running(Router(router_nc, default_shards=2, fetch_seconds=FETCH))
    try:
        await routed(js)
        await send(js, {"cpu": 1}, "c")  # caught up: only version 2 counts now
        await send(js, {"memory": 1}, "d")
        await routed(js)
        assert ids(await work(js)) == {0: [f"rule:{rid}:1:upsert:0", "a:0", f"rule:{rid}:2:upsert:0", "b:0", "d:0"]}
    finally:
        await router.stop()
