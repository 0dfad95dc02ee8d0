"""Metric polling against real sources no one here wrote: the session nats-server's `/varz` and a
prometheus-client exporter; events on real JetStream, snapshots in the real bucket, a real scheduler process."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from nats.aio.client import Client
from nats.js.api import KeyValueConfig, StorageType
from nats.js.client import JetStreamContext
from nats.js.errors import KeyNotFoundError
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from services.common.cli.procs import free_port
from services.common.domain.schedules.polling import parse_target
from services.common.egress import guarded_client
from services.common.messages import codec
from services.common.nats import subjects
from services.common.nats.lease import SchedulerLease
from services.common.nats.streams import ensure_streams
from services.scheduler.poll_targets import PollTarget, PollTargets
from services.scheduler.poller import Poller
from services.scheduler.settings import SchedulerSettings
from tests.scheduler.kit import new_tenant, run_events, start_scheduler
from tests.support.nats import NatsServer
from tests.support.waiting import eventually_async


def target(tenant: str, body: dict[str, Any], version: int = 1) -> PollTarget:
    return PollTarget(tenant, uuid.uuid4().hex, version, parse_target(body))


def varz(nats_server: NatsServer, **extra: Any) -> dict[str, Any]:
    body = {
        "name": "nats-varz",
        "url": f"{nats_server.monitor_url}/varz",
        "interval": "1s",
        "metrics": [{"name": "nats_mem", "path": "mem"}, {"name": "nats_cpu", "path": "cpu"}],
        "labels": {"env": "lab"},
    }
    return {**body, **extra}


@pytest.fixture
def exporter() -> Iterator[tuple[str, CollectorRegistry]]:
    """A real prometheus-client exporter on a free loopback port, with its own registry."""
    registry = CollectorRegistry()
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    yield f"http://127.0.0.1:{port}/metrics", registry
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
async def poller(js: JetStreamContext) -> AsyncIterator[Poller]:
    await ensure_streams(js)
    snapshots = await js.key_value(subjects.POLLING_SNAPSHOTS_BUCKET)
    client: Client = js._nc  # type: ignore[attr-defined]
    yield Poller(client, js, snapshots, PollTargets(), SchedulerSettings(scheduler_instance="poller-test"))


@pytest.fixture
async def http(poller: Poller) -> AsyncIterator[httpx.AsyncClient]:
    async with guarded_client(poller.settings.egress_policy) as client:
        yield client


async def poll_messages(js: JetStreamContext, tenant: str) -> list[tuple[str, list[dict[str, Any]]]]:
    """Every poll message of the tenant on the events stream: (message id, its array of events)."""
    return [(msg_id, cast(list[dict[str, Any]], body)) for msg_id, body in await run_events(js, tenant)]


async def stored_snapshot(js: JetStreamContext, item: PollTarget) -> dict[str, Any] | None:
    kv = await js.key_value(subjects.POLLING_SNAPSHOTS_BUCKET)
    try:
        entry = await kv.get(subjects.polling_key(item.tenant, item.target_id))
    except KeyNotFoundError:
        return None
    return dict(codec.loads(entry.value or b"null"))


async def test_polling_nats_varz_publishes_metric_events_and_keeps_the_snapshot(
    poller: Poller, http: httpx.AsyncClient, js: JetStreamContext, nats_server: NatsServer
) -> None:
    tenant = new_tenant()
    item = target(tenant, varz(nats_server))

    state = await poller.poll(http, item)

    assert state["ok"] is True and state["status_code"] == 200 and state["error"] is None
    assert state["values"]["nats_mem"] > 1_000_000  # a real nats-server uses megabytes
    assert state["values"]["nats_cpu"] >= 0 and state["latency_ms"] > 0
    assert await stored_snapshot(js, item) == state
    events = await poll_messages(js, tenant)
    assert len(events) == 1  # one message per poll: an array of two events, split by the router
    msg_id, body = events[0]
    assert msg_id.startswith(f"poll:{item.target_id}:") and msg_id.endswith(":0")
    assert isinstance(body, list)
    assert {e["metric"]: e["value"] for e in body} == {"nats_mem": state["values"]["nats_mem"], "nats_cpu": state[
        "values"
    ]["nats_cpu"]}  # fmt: skip
    for event in body:
        assert event["target"] == "nats-varz" and event["target_id"] == item.target_id and event["env"] == "lab"
        assert event["timestamp"] == state["at"]


async def test_a_prometheus_exporter_is_read_with_its_labels(
    poller: Poller, http: httpx.AsyncClient, js: JetStreamContext, exporter: tuple[str, CollectorRegistry]
) -> None:
    url, registry = exporter
    Gauge("queue_depth", "jobs waiting", registry=registry).set(17)
    requests = Counter("app_requests", "requests served", ["code"], registry=registry)
    requests.labels("200").inc(40)
    requests.labels("500").inc(2)
    tenant = new_tenant()
    body = {"name": "app", "url": url, "interval": "5s", "format": "prometheus"}
    item = target(tenant, {**body, "metrics": ["queue_depth", "app_requests"]})

    state = await poller.poll(http, item)

    assert state["ok"] is True, state
    assert state["values"] == {
        "queue_depth": 17,
        'app_requests_total{code="200"}': 40,
        'app_requests_total{code="500"}': 2,
    }
    [(_, events)] = await poll_messages(js, tenant)
    assert sorted((e["metric"], e["value"], e.get("labels")) for e in events) == [
        ("app_requests_total", 2, {"code": "500"}),
        ("app_requests_total", 40, {"code": "200"}),
        ("queue_depth", 17, None),
    ]


async def test_failures_are_recorded_by_kind_and_publish_nothing(
    poller: Poller, http: httpx.AsyncClient, js: JetStreamContext, nats_server: NatsServer
) -> None:
    tenant = new_tenant()
    closed = target(tenant, varz(nats_server, name="closed", url=f"http://127.0.0.1:{free_port()}/varz"))
    missing = target(tenant, varz(nats_server, name="404", url=f"{nats_server.monitor_url}/no-such-page"))
    internal = target(tenant, varz(nats_server, name="internal", url="http://127.0.0.2:9/varz"))
    wrong = target(tenant, varz(nats_server, name="wrong-path", metrics=[{"name": "x", "path": "no.such.path"}]))
    html = target(tenant, varz(nats_server, name="not-prom", format="prometheus", metrics=None))

    kinds = {t.spec.name: (await poller.poll(http, t))["error"]["kind"] for t in (closed, missing, internal, wrong)}
    assert kinds == {"closed": "network", "404": "http", "internal": "egress", "wrong-path": "value"}
    assert (await stored_snapshot(js, missing))["status_code"] == 404  # type: ignore[index]
    assert (await stored_snapshot(js, closed))["ok"] is False  # type: ignore[index]
    assert "no.such.path" in (await stored_snapshot(js, wrong))["error"]["detail"]  # type: ignore[index]
    parsed = await poller.poll(http, html)
    assert parsed["error"]["kind"] == "parse", parsed  # JSON is not Prometheus text exposition
    assert await poll_messages(js, tenant) == []


async def test_the_leader_polls_active_targets_on_their_interval_and_stops_with_its_lease(
    poller: Poller, js: JetStreamContext, nats_server: NatsServer
) -> None:
    tenant = new_tenant()
    live = await js.create_key_value(
        KeyValueConfig(bucket=f"poller-test-{uuid.uuid4().hex[:8]}", ttl=60, storage=StorageType.MEMORY)
    )
    lease = SchedulerLease(live, "poller-test", 60)
    assert await lease.try_acquire()
    active, paused = target(tenant, varz(nats_server)), target(tenant, varz(nats_server, name="p", active=False))
    for item, spec in ((active, varz(nats_server)), (paused, varz(nats_server, name="p", active=False))):
        entry = {**parse_target(spec).as_dict(), "tenant": tenant, "target_id": item.target_id, "version": 1}
        poller.targets.apply(f"{tenant}.{item.target_id}", codec.dumps(entry), deleted=False)
    assert list(poller.targets.targets) == [(tenant, active.target_id)]  # an inactive target is not polled

    stop = asyncio.Event()
    term = asyncio.create_task(poller.run_term(lease, stop))
    try:

        async def three_polls() -> list[tuple[str, list[dict[str, Any]]]] | None:
            found = await poll_messages(js, tenant)
            return found if len(found) >= 3 else None

        polls = await eventually_async(three_polls, timeout=15)
    finally:
        stop.set()
        await asyncio.wait_for(term, 10)
    stamps = sorted(body[0]["timestamp"] for _, body in polls)
    assert len(set(stamps)) == len(stamps)  # every poll its own time
    assert all(body[0]["target_id"] == active.target_id for _, body in polls)
    assert not poller.running  # the term's polls ended with it


@pytest.mark.slow  # several seconds: make test keeps its budget
async def test_a_scheduler_process_polls_a_target_it_reads_from_the_bucket(
    js: JetStreamContext, nats_server: NatsServer, tmp_path: Path
) -> None:
    """The wiring: a real `python -m services.scheduler` takes the lease and polls what the gateway mirrored."""
    await ensure_streams(js)
    tenant = new_tenant()
    target_id = uuid.uuid4().hex
    entry = {**parse_target(varz(nats_server)).as_dict(), "tenant": tenant, "target_id": target_id, "version": 1}
    kv = await js.key_value(subjects.POLLING_BUCKET)
    await kv.put(subjects.polling_key(tenant, target_id), codec.dumps(entry))
    process = start_scheduler(nats_server.url, f"poll-{uuid.uuid4().hex[:6]}", tmp_path, CEP_EGRESS_ALLOW="127.0.0.1")
    try:

        async def polled() -> list[tuple[str, list[dict[str, Any]]]] | None:
            return await poll_messages(js, tenant) or None

        [(msg_id, events), *_] = await eventually_async(polled, timeout=30)
        assert msg_id.startswith(f"poll:{target_id}:")
        assert {e["metric"] for e in events} == {"nats_mem", "nats_cpu"}
        item = PollTarget(tenant, target_id, 1, parse_target(varz(nats_server)))
        assert (await stored_snapshot(js, item) or {}).get("ok") is True
    finally:
        process.terminate()
        await kv.delete(subjects.polling_key(tenant, target_id))
