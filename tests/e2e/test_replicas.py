"""Ingest and gateway as two replicas each, beside a `cep up` stack: every event routed once, every alert recorded once.

The second ingest and the second gateway run with the very settings the supervisor gave the first ones (read
from their environment), on other ports. The gateways share the HTTP load and the recorder's durable consumer;
the ingest replicas share the router lease, and the active one is SIGKILLed half way through.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import nats
import psutil
import pytest

from services.common.cli.procs import cmdline, environ, free_port
from services.common.nats import subjects
from services.common.nats.router_partitions import partition_of
from services.evaluator.work import EventWork, decode_message
from tests.support.stack import Stack, start_stack, stop_stack
from tests.support.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # a stack of its own and two more processes: about a minute

EVENTS, BATCH = 400, 25
RULE = {
    "name": "replica-check",
    "active": True,
    "trigger_type": "event",
    "trigger_spec": {"event_type": "replica", "group_by": ["n"]},
}


@pytest.fixture(params=[1, 2], ids=["one-router", "two-router-partitions"])
def replicated(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Stack, dict[str, int]]]:
    """A stack plus a second ingest and a second gateway; yields the stack and every replica's HTTP port.

    With two router partitions (`CEP_ROUTER_PARTITIONS`) each ingest replica routes one."""
    env = {"CEP_ROUTER_LEASE_SECONDS": "2", "CEP_ROUTER_PARTITIONS": str(request.param)}
    stack = start_stack(tmp_path / "state", env=env)
    extra: list[subprocess.Popen[bytes]] = []
    try:
        ports = _ports(stack)
        for name in ("ingest", "gateway"):
            port = free_port()
            env = _service_env(stack, name) | {f"CEP_{name.upper()}_PORT": str(port)}
            with (tmp_path / f"{name}-2.log").open("w") as log:  # the child keeps its own descriptor
                extra.append(
                    subprocess.Popen(
                        [sys.executable, "-m", f"services.{name}"], env=env, stdout=log, stderr=subprocess.STDOUT
                    )
                )
            ports[f"{name}-2"] = port
        for name in ("ingest-2", "gateway-2"):
            eventually(lambda n=name: _ready(ports[n]), timeout=60, what=f"{name} ready")
        yield stack, ports
    finally:
        for proc in extra:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=15)
        stop_stack(stack)
        for log in [*tmp_path.glob("*-2.log"), *(tmp_path / "state" / "logs").glob("*.log")]:
            lines = [line for line in log.read_text(errors="replace").splitlines() if '"level": "info"' not in line]
            print(f"--- {log.name}", *lines[-12:], sep="\n")  # shown on failure


def test_two_ingest_and_two_gateway_replicas_route_and_record_each_event_once(
    replicated: tuple[Stack, dict[str, int]],
) -> None:
    stack, ports = replicated
    partitions = int(_service_env(stack, "ingest").get("CEP_ROUTER_PARTITIONS") or 1)
    eventually(lambda: _roles_settled(ports, partitions), timeout=30, what="the replicas sharing the routing")
    roles = {name: _router_role(ports[name]) for name in ("ingest", "ingest-2")}
    second = httpx.Client(
        base_url=f"http://127.0.0.1:{ports['gateway-2']}", headers={"Authorization": f"Bearer {stack.token}"}
    )
    gateways = [stack.client(), second]
    created = gateways[1].post("/cep/rules", json=RULE)
    assert created.status_code == 201, created.text
    rule_id = created.json()["rule_id"]
    routing = partition_of(created.json()["tenant"], partitions)  # the partition routing this tenant

    event_ids: list[str] = []
    for start in range(0, EVENTS, BATCH):
        if start == EVENTS // 2:  # the replica routing the tenant dies mid-stream: the other takes over its lease
            active = next(name for name, role in roles.items() if routing in role)
            os.kill(_pid_on_port(ports[active]), signal.SIGKILL)
        items = [{"event_type": "replica", "n": n} for n in range(start, start + BATCH)]
        answer = gateways[(start // BATCH) % 2].post("/cep/ingest", json=items)  # the load shared by both
        assert answer.status_code == 202, answer.text
        event_ids += answer.json()["event_ids"]

    recorded = eventually(lambda: _all_events(gateways[0], rule_id, EVENTS), timeout=60, what="every alert recorded")
    assert len(recorded) == len({e["event_id"] for e in recorded}) == EVENTS  # once each, by either gateway
    assert sorted(e["payload"]["n"] for e in recorded) == list(range(EVENTS))
    assert len(_all_events(gateways[1], rule_id, EVENTS) or []) == EVENTS  # the same SQL answer from the replica

    routed = asyncio.run(_routed_event_ids(stack))
    counts = Counter(routed)
    assert set(counts) == set(event_ids) and set(counts.values()) == {1}  # applied exactly once each
    if active == "ingest":
        # The supervisor restarts its killed child, which may win the lease back: one routes, one stands by (with
        # two partitions: one each again).
        eventually(lambda: _roles_settled(ports, partitions), timeout=30, what="the replicas sharing the routing again")
    else:  # the test's own replica is not restarted: the survivor routes every partition
        every = tuple(range(partitions))
        eventually(lambda: _router_role(ports["ingest"]) == every, timeout=30, what="the survivor routing everything")
    for client in gateways:
        client.close()


def _ports(stack: Stack) -> dict[str, int]:
    recorded = json.loads((stack.state_dir / "ports.json").read_text())
    return {"ingest": int(recorded["ingest"]), "gateway": int(stack.url.rsplit(":", 1)[1])}


def _service_env(stack: Stack, name: str) -> dict[str, str]:
    """The environment the supervisor started a service with: the settings a second replica shares."""
    pid = json.loads((stack.state_dir / "supervisor.json").read_text())["children"][name]["pid"]
    return environ(int(pid))


def _pid_on_port(port: int) -> int:
    """The pid of the replica serving `port` (ours, or the supervisor's child)."""
    for process in psutil.process_iter():
        if environ(process.pid).get("CEP_INGEST_PORT") == str(port) and "services.ingest" in cmdline(process.pid):
            return process.pid
    raise AssertionError(f"no ingest process serves port {port}")


def _router_role(port: int) -> tuple[int, ...]:
    """The router partitions the replica routes (one partition: `(0,)` when active, `()` when standing by)."""
    detail = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).json()["checks"]["router"]["detail"]
    if isinstance(detail, dict) and "routing" in detail:
        return tuple(detail["routing"])
    return () if isinstance(detail, dict) and detail.get("role") == "standby" else (0,)


def _roles_settled(ports: dict[str, int], partitions: int) -> bool:
    """One replica routes, the other stands by; with two partitions, each routes one."""
    expected = [(), (0,)] if partitions == 1 else [(0,), (1,)]
    with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
        return sorted(_router_role(ports[name]) for name in ("ingest", "ingest-2")) == expected
    return False


def _ready(port: int) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200
    return False


def _all_events(client: httpx.Client, rule_id: str, expected: int) -> list[dict[str, Any]] | None:
    """Every event of the rule through the paged API, once there are `expected` of them."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"rule_id": rule_id, "limit": 200, **({"cursor": cursor} if cursor else {})}
        page = client.get("/cep/events", params=params).json()
        items += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return items if len(items) >= expected else None


async def _routed_event_ids(stack: Stack) -> list[str]:
    """The event ids of the work a shard applies from CEP_WORK (one rule: one shard each): the events of batched
    work messages, read as a shard reads them, without the copies a router replay stored again (at or before a raw
    position already seen)."""
    nc = await nats.connect(_service_env(stack, "ingest")["CEP_NATS_URL"])  # as the platform's own user
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe(f"{subjects.WORK_PREFIX}.*", stream=subjects.WORK_STREAM)
        left = (await js.stream_info(subjects.WORK_STREAM)).state.messages or 0
        ids: list[str] = []
        done: dict[str, tuple[int, int]] = {}  # per shard subject: the last raw position applied
        while left > 0:
            for msg in await sub.fetch(min(left, 500), timeout=5):
                left = msg.metadata.num_pending
                await msg.ack()
                if not msg.subject.rsplit(".", 1)[1].isdigit():  # a router's epoch marker (one per partition)
                    continue
                for item in decode_message(msg.metadata.sequence.stream, msg.data)[0]:  # as the shard reads it
                    if isinstance(item, EventWork) and item.raw and item.raw > done.get(msg.subject, (0, 0)):
                        done[msg.subject] = item.raw
                        ids.append(item.event.event_id)
        await sub.unsubscribe()
        return ids
    finally:
        await nc.close()
