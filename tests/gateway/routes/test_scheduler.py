"""Scheduler routes on a real gateway: run records from real JetStream into SQL, the status figures, instances."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from nats.js.client import JetStreamContext

from services.common.messages.schedule import RunRecord
from services.common.nats import subjects
from services.common.nats.lease import SchedulerLease
from services.common.nats.streams import ensure_scheduler_live_bucket
from services.scheduler.instances import beat
from tests.gateway.conftest import ADMIN
from tests.gateway.live_gateway import LiveGateway, new_tenant, start_gateway
from tests.support.waiting import eventually_async

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[LiveGateway]:
    live = start_gateway(tmp_path)
    yield live
    live.stop()


def run(tenant: str, rule_id: str, minutes_ago: int, status: str = "fired", **fields: object) -> RunRecord:
    at = NOW - timedelta(minutes=minutes_ago)
    values: dict[str, object] = {
        "tenant": tenant,
        "rule_id": rule_id,
        "rule_version": 1,
        "scheduled_at": at,
        "status": status,
        "instance": "sched-a",
        "fencing": 7,
        "started_at": None if status == "missed" else at + timedelta(milliseconds=20),
        "delay_ms": None if status == "missed" else 20.0,
        **fields,
    }
    return RunRecord(**values)  # type: ignore[arg-type]


async def publish(js: JetStreamContext, record: RunRecord) -> None:
    await js.publish(record.subject(), record.encode(), headers={subjects.MSG_ID: record.msg_id()})


async def test_runs_are_recorded_once_and_explained_by_the_status_figures(
    gateway: LiveGateway, js: JetStreamContext
) -> None:
    tenant, other = new_tenant(), new_tenant()
    viewer, others = gateway.token(tenant, "viewer"), gateway.token(other, "viewer")
    records = [
        run(tenant, "rule-a", 5),
        run(tenant, "rule-a", 4, "missed"),
        run(tenant, "rule-a", 3, "caught_up", delay_ms=65_000.0),
        run(tenant, "rule-a", 2, instance="sched-b", fencing=9, delay_ms=1500.0),
        run(tenant, "rule-b", 1),
        run(other, "rule-c", 1),
    ]
    for record in records:
        await publish(js, record)
    await publish(js, records[0])  # a redelivery of the same record: nothing to count
    await publish(js, run(tenant, "rule-a", 5, instance="sched-b", fencing=9))  # another term fired it again

    async with httpx.AsyncClient(base_url=gateway.url, headers=viewer) as client:

        async def all_recorded() -> dict[str, Any] | None:
            body = (await client.get("/cep/scheduler/status")).json()
            return body if body["runs"] + body["missed_runs"] == 5 and body["duplicate_runs"] == 1 else None

        status = await eventually_async(all_recorded)
        assert (status["runs"], status["missed_runs"], status["late_runs"], status["caught_up_runs"]) == (4, 1, 2, 1)
        assert status["delay_ms"]["p50"] == 20.0 and status["delay_ms"]["p99"] == 65_000.0
        # A tenant sees opaque, stable instance names, never the `host:pid` an instance id is made of.
        by_instance = status["runs_by_instance"]
        assert sorted(by_instance.values()) == [1, 3] and not {"sched-a", "sched-b"} & set(by_instance)
        sched_a = next(name for name, count in by_instance.items() if count == 3)
        assert sched_a.startswith("scheduler-")

        listed = (await client.get("/cep/scheduler/runs", params={"rule_id": "rule-a"})).json()
        assert listed["total"] == 4
        assert [r["status"] for r in listed["items"]] == ["fired", "caught_up", "missed", "fired"]  # newest first
        first = listed["items"][-1]
        assert set(first) >= {"rule_id", "scheduled_at", "started_at", "delay_ms", "instance", "status"}
        assert (first["instance"], first["duplicates"], first["fencing"]) == (sched_a, 1, 7)
        assert {r["instance"] for r in listed["items"]} == set(by_instance)

        page = (await client.get("/cep/scheduler/runs", params={"limit": 3})).json()
        rest = (await client.get("/cep/scheduler/runs", params={"limit": 3, "cursor": page["next_cursor"]})).json()
        seen = [(r["rule_id"], r["scheduled_at"]) for r in page["items"] + rest["items"]]
        assert len(seen) == len(set(seen)) == 5 and rest["next_cursor"] is None

        missed = (await client.get("/cep/scheduler/runs", params={"status": "missed"})).json()
        assert [r["status"] for r in missed["items"]] == ["missed"]
        assert (await client.get("/cep/scheduler/status", params={"window": "soon"})).status_code == 422
        assert (await client.get("/cep/scheduler/runs", params={"cursor": "junk"})).status_code == 422

    async with httpx.AsyncClient(base_url=gateway.url, headers=others) as client:
        theirs = (await client.get("/cep/scheduler/runs")).json()
        assert [r["rule_id"] for r in theirs["items"]] == ["rule-c"]  # never another tenant's runs
        assert (await client.get("/cep/scheduler/status")).json()["runs"] == 1
    assert httpx.get(f"{gateway.url}/cep/scheduler/status").status_code == 401


async def test_the_leader_and_live_instances_come_from_the_live_bucket(
    gateway: LiveGateway, js: JetStreamContext
) -> None:
    live = await ensure_scheduler_live_bucket(js, 2.0)
    leader = SchedulerLease(live, f"route-test-{new_tenant()}", 2.0)

    async def lead() -> bool:
        return await leader.try_acquire()

    await eventually_async(lead, timeout=10)  # an earlier test's killed leader may hold it for one more period
    follower = SchedulerLease(live, f"{leader.instance}-b", 2.0)
    await beat(live, leader, NOW, 3)
    await beat(live, follower, NOW, 3)
    async with httpx.AsyncClient(base_url=gateway.url, headers=ADMIN) as client:  # the platform admin sees all
        status = (await client.get("/cep/scheduler/status")).json()
        instances = (await client.get("/cep/scheduler/instances")).json()
    assert (status["leader"], status["leader_fencing"]) == (leader.instance, leader.fencing)
    assert {leader.instance, follower.instance} <= set(status["instance_ids"])
    assert status["instances"] == len(status["instance_ids"]) >= 2
    marked = {i["instance"]: (i["leader"], i["role"]) for i in instances["items"]}
    assert marked[leader.instance] == (True, "leader") and marked[follower.instance] == (False, "follower")
    assert {(i["host"], i["pid"]) for i in instances["items"]} >= {(os.uname().nodename, os.getpid())}
    assert instances["total"] == len(instances["items"])
    await leader.release()


async def test_a_tenant_never_sees_the_hosts_and_pids_of_the_scheduler(
    gateway: LiveGateway, js: JetStreamContext
) -> None:
    live = await ensure_scheduler_live_bucket(js, 2.0)
    leader = SchedulerLease(live, f"{os.uname().nodename}:{os.getpid()}-{new_tenant()}", 2.0)  # the default id shape

    async def lead() -> bool:
        return await leader.try_acquire()

    await eventually_async(lead, timeout=10)
    await beat(live, leader, NOW, 3)
    for role in ("viewer", "admin"):
        async with httpx.AsyncClient(base_url=gateway.url, headers=gateway.token(new_tenant(), role)) as client:
            status = await client.get("/cep/scheduler/status")
            instances = await client.get("/cep/scheduler/instances")
        for response in (status, instances):
            assert response.status_code == 200, response.text
            assert f"{os.uname().nodename}:{os.getpid()}" not in response.text, response.text
        assert status.json()["instances"] == len(status.json()["instance_ids"]) >= 1
        items = instances.json()["items"]
        assert all((i["host"], i["pid"], i["rules"]) == (None, None, None) for i in items)
        # The names are opaque but consistent: the leader of the status is the instance marked leader.
        assert [i["instance"] for i in items if i["leader"]] == [status.json()["leader"]]
        assert {i["instance"] for i in items} == set(status.json()["instance_ids"])
        async with httpx.AsyncClient(base_url=gateway.url, headers=gateway.token(new_tenant(), role)) as client:
            daily = (await client.get("/cep/stats/daily")).json()
        assert daily["scheduler"]["leader"] == status.json()["leader"]  # the daily stats name the leader alike
    await leader.release()


def test_the_scheduler_routes_are_in_the_openapi_document(gateway: LiveGateway) -> None:
    paths = httpx.get(f"{gateway.url}/openapi.json").json()["paths"]
    assert {"/cep/scheduler/status", "/cep/scheduler/instances", "/cep/scheduler/runs"} <= set(paths)
