"""The router against a real nats-server: exact shard fan-out, rule order, replays, restarts and the shard map.

Events are read back from the work stream as a shard reads them (`decode_message`), raw batches included.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import nats
import orjson
import pytest
from nats.aio.client import Client
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext

from services.common.cli.procs import free_port
from services.common.domain.evaluation.sharding import Placement, shard_for
from services.common.domain.rules.model import Rule
from services.common.messages import codec
from services.common.messages.work import RuleChange
from services.common.nats import subjects
from services.common.nats.streams import ensure_streams
from services.evaluator.work import EventWork, RuleWork, decode_message
from services.ingest.app import IngestService
from services.ingest.router import Router
from services.ingest.router_consumer import bind_router_consumer
from services.ingest.settings import IngestSettings
from tests.common.domain.kit import T0, make_rule, metric
from tests.support.nats import NatsServer, start_nats
from tests.support.processes import stop_process

TENANT = "acme"
FETCH = 0.2  # seconds a fetch waits: also how long a router takes to stop
TWO = Placement(2)
WorkLog = dict[int, list[tuple[str, Any]]]  # shard -> [(id, decoded work item)] in stream order


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


def on(rule: Rule, key: str = "") -> int:
    """The shard (of two, series placement) owning the rule's series for `key`."""
    return TWO.series_shard(rule, key)


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


async def until(probe: Callable[[], bool], what: str, timeout: float = 15) -> None:
    """Wait until `probe()` holds (a router's own state: running, standing by, waiting)."""
    deadline = time.monotonic() + timeout
    while not probe():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


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
            if not msg.subject.rsplit(".", 1)[1].isdigit():  # a router's shard-map epoch marker, not shard work
                continue
            shard = int(msg.subject.rsplit(".", 1)[1])
            decoded, bad = decode_message(msg.metadata.sequence.stream, msg.data)
            assert not bad
            for item in decoded:
                name = f"{item.event.event_id}:{shard}" if isinstance(item, EventWork) else None
                found.setdefault(shard, []).append((name or (msg.headers or {})[subjects.MSG_ID], item))
    await sub.unsubscribe()
    return {shard: _applied(items) for shard, items in found.items()} if applied else found


def _applied(items: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """What a shard applies: items at or before the last raw position it applied are replayed copies."""
    done, out = (0, 0), []
    for entry in items:
        raw = entry[1].raw if isinstance(entry[1], EventWork | RuleWork) else None
        if raw:
            if raw <= done:
                continue
            done = raw
        out.append(entry)
    return out


async def raw_work(js: JetStreamContext) -> list[tuple[str, bytes]]:
    """Every shard work message as stored: (subject, body)."""
    config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
    sub = await js.pull_subscribe(f"{subjects.WORK_PREFIX}.*", stream=subjects.WORK_STREAM, config=config)
    total = (await js.stream_info(subjects.WORK_STREAM)).state.messages
    out: list[tuple[str, bytes]] = []
    while len(out) < total:
        out += [(msg.subject, msg.data) for msg in await sub.fetch(min(500, total - len(out)), timeout=5)]
    await sub.unsubscribe()
    return [(subject, data) for subject, data in out if subject.rsplit(".", 1)[1].isdigit()]  # no epoch markers


def ids(log: WorkLog) -> dict[int, list[str]]:
    return {shard: [i for i, _ in items] for shard, items in log.items()}


CPU_BY_HOST = make_rule(metric("cpu", group_by=["host"]), "cpu-by-host", tenant=TENANT)
DEPLOY = make_rule({"trigger_type": "event", "trigger_spec": {"event_type": "deploy"}}, "deploys", tenant=TENANT)
CPU = make_rule(metric("cpu"), "cpu", tenant=TENANT)  # ungrouped: every cpu event on the shard of its topic


def host_on(shard: int) -> str:
    return next(f"h{n}" for n in range(100) if on(CPU_BY_HOST, f"host=h{n}") == shard)


async def test_events_reach_exactly_the_shards_owning_their_series(js: JetStreamContext, router_nc: Client) -> None:
    await put_rule(js, CPU_BY_HOST)  # known from the bucket at start
    router = await running(Router(router_nc, default_shards=2, fetch_seconds=FETCH))
    deploys, other = on(DEPLOY), 1 - on(DEPLOY)
    try:
        await change(js, DEPLOY)
        await send(js, {"cpu": 91, "host": host_on(deploys)}, "a")  # the cpu rule's series only
        await send(js, {"event_type": "deploy"}, "b")  # the deploy rule only
        await send(js, {"cpu": 5, "event_type": "deploy", "host": host_on(other)}, "c")  # both: two shards
        await send(js, {"memory": 1}, "d")  # none
        await send(js, {"cpu": 1, "host": "h1"}, "e", tenant="other")  # another tenant: none
        await js.publish(subjects.ingest_subject(TENANT), b'[{"cpu": 1}, 7, {"event_type": "cep.x"}]')  # f, seq-ids
        await routed(js)
        seq = (await js.stream_info(subjects.EVENTS_STREAM)).state.last_seq
        log = ids(await work(js))
        no_host = on(CPU_BY_HOST, "host=")
        expected: dict[int, list[str]] = {
            deploys: [f"rule:{DEPLOY.rule_id}:1:upsert:{deploys}", f"a:{deploys}", f"b:{deploys}", f"c:{deploys}"],
            other: [f"rule:{DEPLOY.rule_id}:1:upsert:{other}", f"c:{other}"],
        }
        expected[no_host].append(f"{seq}.0:{no_host}")
        assert log == expected
        assert router.stats.dropped == 2  # the number and the reserved event type
        assert (await router.check()).ok
    finally:
        await router.stop()


async def test_an_out_of_range_timestamp_is_dropped_and_counted_not_fatal(
    js: JetStreamContext, router_nc: Client
) -> None:
    await put_rule(js, CPU)
    router = await running(Router(router_nc, default_shards=2, fetch_seconds=FETCH))
    try:
        items = [{"cpu": 1, "timestamp": "9999-12-31T23:59:59-12:00"}, {"cpu": 2}, {"cpu": 3, "timestamp": 1e20}]
        await send(js, items, "a")
        await send(js, {"cpu": 4}, "b")  # the router carries on with the next message
        await routed(js)
        assert ids(await work(js)) == {on(CPU): [f"a.1:{on(CPU)}", f"b:{on(CPU)}"]}
        assert router.stats.dropped == 2
        assert (await router.check()).ok
    finally:
        await router.stop()


async def test_rule_changes_reach_every_shard_in_order(js: JetStreamContext, router_nc: Client) -> None:
    rid = "r1"
    cpu, memory = make_rule(metric("cpu"), rid, tenant=TENANT), make_rule(metric("memory"), rid, tenant=TENANT)
    router = await running(Router(router_nc, default_shards=2, fetch_seconds=FETCH))
    try:
        await change(js, cpu)
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
        for shard in (0, 1):
            events = {"a": on(cpu), "c": on(memory), "e": on(memory)}
            mine = {name: [f"{name}:{shard}"] if owner == shard else [] for name, owner in events.items()}
            assert ids(log)[shard] == [
                f"rule:{rid}:1:upsert:{shard}",
                *mine["a"],
                f"rule:{rid}:2:upsert:{shard}",
                *mine["c"],
                f"rule:{rid}:3:upsert:{shard}",
                f"rule:{rid}:4:upsert:{shard}",
                *mine["e"],
                f"rule:{rid}:5:delete:{shard}",
            ]
            assert [w.change.version for _, w in log[shard] if isinstance(w, RuleWork)] == [1, 2, 3, 4, 5]
    finally:
        await router.stop()


async def test_a_replay_with_other_batch_boundaries_applies_nothing_twice(
    js: JetStreamContext, router_nc: Client
) -> None:
    await change(js, CPU)
    for n in range(300):
        await send(js, {"cpu": n}, f"e{n}")
    first = await running(Router(router_nc, default_shards=2, fetch_seconds=FETCH))
    await routed(js)
    await first.stop()
    before = await work(js)
    assert len(before[on(CPU)]) == 301 and len(before[1 - on(CPU)]) == 1 and first.stats.work_duplicates == 0
    assert first.stats.work_published < 20  # a few batched messages, not one per event
    stored = (await js.stream_info(subjects.WORK_STREAM)).state.messages
    await js.delete_consumer(subjects.EVENTS_STREAM, subjects.ROUTER_CONSUMER)
    again = await running(Router(router_nc, default_shards=2, batch=7, fetch_seconds=FETCH))  # other boundaries
    try:
        await routed(js)
        assert again.stats.work_duplicates == 2  # the rule change keeps its ids: JetStream dropped both copies
        assert (await js.stream_info(subjects.WORK_STREAM)).state.messages > stored  # the batches are new ids
        copies = await work(js, applied=False)
        assert len(copies[on(CPU)]) == 301 + 300  # every event routed twice ...
        assert await work(js) == before  # ... and every copy recognised by its raw position
    finally:
        await again.stop()


async def test_a_router_that_died_mid_batch_is_resumed_at_the_ack_floor(
    js: JetStreamContext, router_nc: Client
) -> None:
    await change(js, CPU)
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
        assert ids(await work(js)) == {on(CPU): [f"e{n}:{on(CPU)}" for n in range(4, 20)]}
    finally:
        await router.stop()


@pytest.mark.parametrize("scheme", ["series", None])
async def test_the_shard_map_decides_the_shard_count_and_placement(
    js: JetStreamContext, router_nc: Client, scheme: str | None
) -> None:
    """A map of this release (series placement) sends the event to its series' shard; a map of an earlier
    version (no placement) to every shard holding one of its candidate rules, as JSON work those versions read."""
    control = await js.key_value(subjects.CONTROL_BUCKET)
    shard_map = {"epoch": 3, "shards": 5} | ({"placement": scheme} if scheme else {})
    await control.put(subjects.SHARD_MAP_KEY, codec.dumps(shard_map))
    rules = [make_rule(metric("cpu", group_by=["host"]), f"r{n}", tenant=TENANT) for n in range(12)]
    for rule in rules:
        await change(js, rule)
    router = await running(Router(router_nc, default_shards=2, fetch_seconds=FETCH))
    try:
        await send(js, {"cpu": 1, "host": "h1"}, "x")
        await routed(js)
        log = ids(await work(js))
        if scheme:
            owners = {Placement(5).series_shard(rules[0], "host=h1")}
        else:
            owners = {shard_for(rule.rule_id, 5) for rule in rules}
        assert {s for s, items in log.items() if "x:" + str(s) in items} == owners
        assert router.stats.shards == 5
        marker = await js.get_last_msg(subjects.WORK_STREAM, subjects.WORK_EPOCH)  # announced before routing
        assert codec.loads(marker.data or b"") == {"epoch": 3, "shards": 5, "placement": scheme or "rule"}
        assert marker.seq == 1  # before any work routed with that map
        kinds = [orjson.loads(data)["kind"] if data[:1] == b"{" else "raw" for _, data in await raw_work(js)]
        assert kinds[-1] == ("raw" if scheme else "events")
    finally:
        await router.stop()


@pytest.mark.slow  # 6-30 s: `make test-slow` keeps `make test` under 10 minutes
async def test_a_broker_restart_loses_nothing(broker: NatsServer, js: JetStreamContext, router_nc: Client) -> None:
    await change(js, CPU)
    router = await running(Router(router_nc, default_shards=2, fetch_seconds=FETCH))
    try:
        for n in range(200):
            await send(js, {"cpu": n}, f"a{n}")
        await asyncio.to_thread(broker.restart)
        for n in range(200):
            await send(js, {"cpu": n}, f"b{n}")
        await routed(js, timeout=30)
        shard = on(CPU)
        got = ids(await work(js))[shard]
        expected = [f"rule:cpu:1:upsert:{shard}", *(f"a{n}:{shard}" for n in range(200))]
        expected += [f"b{n}:{shard}" for n in range(200)]
        assert sorted(got) == sorted(expected) and len(got) == len(set(got))
        assert got[0] == expected[0]
    finally:
        await router.stop()


@pytest.mark.slow  # several seconds: make test keeps its budget
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
    memory = make_rule(metric("memory"), "cpu", tenant=TENANT, version=2)  # the same rule, on memory now
    await change(js, CPU)
    await send(js, {"cpu": 1}, "a")  # matched version 1 when it was ingested
    await change(js, memory)  # the bucket now holds v2
    await send(js, {"memory": 1}, "b")
    router = await running(Router(router_nc, default_shards=2, fetch_seconds=FETCH))
    try:
        await routed(js)
        await send(js, {"cpu": 1}, "c")  # caught up: only version 2 counts now
        await send(js, {"memory": 1}, "d")
        await routed(js)
        log = ids(await work(js))
        # Before the router replays the change to v2, the rule's series may live where either version places
        # them: a goes to both (a superset costs only work: a shard evaluates the series it owns). From the
        # change on, only v2 counts.
        for shard in (0, 1):
            events = {"a": {on(CPU), on(memory)}, "b": {on(memory)}, "d": {on(memory)}}
            mine = {name: [f"{name}:{shard}"] if shard in owners else [] for name, owners in events.items()}
            assert log[shard] == [
                f"rule:cpu:1:upsert:{shard}",
                *mine["a"],
                f"rule:cpu:2:upsert:{shard}",
                *mine["b"],
                *mine["d"],
            ]
    finally:
        await router.stop()


# -- one batch in flight, killed ------------------------------------------------------------------------------
KILL_EVENTS = 1000
KILL_BATCH = 20  # raw messages per routed batch: many batches, so the kill finds one in flight


def ingest_process(broker: NatsServer, state_dir: Path) -> subprocess.Popen[bytes]:
    """`python -m services.ingest` on the test's broker, routing small batches."""
    env = {
        **os.environ,
        "CEP_NATS_URL": broker.url,
        "CEP_INGEST_PORT": str(free_port()),
        "CEP_STATE_DIR": str(state_dir),
        "CEP_SHARDS": "2",
        "CEP_ROUTE_BATCH": str(KILL_BATCH),
    }
    return subprocess.Popen([sys.executable, "-m", "services.ingest"], env=env, stderr=subprocess.DEVNULL)


async def ack_floor(js: JetStreamContext) -> int:
    try:
        info = await js.consumer_info(subjects.EVENTS_STREAM, subjects.ROUTER_CONSUMER)
    except Exception:
        return 0
    return int(info.ack_floor.stream_seq or 0)


async def test_a_router_killed_mid_stream_acked_only_what_it_stored_and_the_next_one_doubles_nothing(
    broker: NatsServer, js: JetStreamContext, router_nc: Client, tmp_path: Path
) -> None:
    await change(js, CPU)  # raw sequence 1; event n is at raw sequence n + 2
    for n in range(KILL_EVENTS):
        await send(js, {"cpu": n}, f"e{n}")
    shard = on(CPU)
    proc = ingest_process(broker, tmp_path)
    try:
        deadline = time.monotonic() + 30
        while await ack_floor(js) < KILL_EVENTS // 5:
            assert time.monotonic() < deadline and proc.poll() is None, "the ingest service routed nothing"
            await asyncio.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        stop_process(proc)
    floor = await ack_floor(js)
    assert floor < KILL_EVENTS + 1, "killed too late to find a batch in flight"
    stored = set(ids(await work(js)).get(shard, []))
    acked = {f"e{n}:{shard}" for n in range(KILL_EVENTS) if n + 2 <= floor}
    assert acked <= stored, f"acked but not stored: {sorted(acked - stored)[:5]}"

    router = await running(Router(router_nc, default_shards=2, fetch_seconds=FETCH))
    try:
        await routed(js, timeout=30)
        applied = ids(await work(js))[shard]
        assert applied == [f"rule:cpu:1:upsert:{shard}", *(f"e{n}:{shard}" for n in range(KILL_EVENTS))]
    finally:
        await router.stop()
