"""The Kubernetes NATS config, run as three real nats-servers on loopback: they form one JetStream cluster, the
platform's streams and buckets get three replicas, writes survive the loss of one server, and only the
platform's own user gets in (producers need the gateway's auth callout, which is not running here)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
import yaml

from services.common.cli.natskeys import generate
from services.common.cli.procs import free_port
from services.common.nats import subjects
from services.common.nats.streams import BUCKETS, STREAMS, ensure_bucket, ensure_stream
from tests.deploy.manifests import ROOT

NATS_SERVER = str(Path(sys.executable).parent / "nats-server")
SERVERS = 3


def k8s_config() -> str:
    docs = list(yaml.safe_load_all((ROOT / "k8s" / "base" / "nats.yaml").read_text()))
    [config_map] = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "nats-config"]
    return str(config_map["data"]["nats.conf"])


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[list[subprocess.Popen[bytes]], list[int], str]]:
    """Three servers from the StatefulSet's config: routes and store dirs moved to loopback and tmp_path."""
    keys = generate()
    clients, routes = [free_port() for _ in range(SERVERS)], [free_port() for _ in range(SERVERS)]
    procs: list[subprocess.Popen[bytes]] = []
    for n in range(SERVERS):
        text = k8s_config().replace('"/data"', f'"{tmp_path / f"js-{n}"}"')
        for peer in range(SERVERS):
            text = text.replace(f"nats-{peer}.nats-cluster:6222", f"127.0.0.1:{routes[peer]}")
        text = text.replace("port: 6222", f"port: {routes[n]}") + f"\nport: {clients[n]}\nhttp_port: {free_port()}\n"
        path = tmp_path / f"nats-{n}.conf"
        path.write_text(text)
        env = os.environ | {
            "POD_NAME": f"nats-{n}",
            "CEP_NATS_PASSWORD": keys.password,
            "CEP_NATS_AUTH_ISSUER": keys.issuer,
        }
        procs.append(subprocess.Popen([NATS_SERVER, "-c", str(path)], env=env, stderr=subprocess.DEVNULL))
    try:
        yield procs, clients, keys.password
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)


@pytest.mark.slow  # three real servers, ~15 s: `make test-slow` (CI)
def test_three_servers_keep_three_replicas_and_lose_nothing_with_one_down(
    cluster: tuple[list[subprocess.Popen[bytes]], list[int], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    procs, ports, password = cluster
    monkeypatch.setenv("CEP_JETSTREAM_REPLICAS", "3")  # as the ConfigMap sets it
    asyncio.run(_check(procs, ports, password))


async def _check(procs: list[subprocess.Popen[bytes]], ports: list[int], password: str) -> None:
    urls = [f"nats://cep-internal:{password}@127.0.0.1:{port}" for port in ports]
    nc: Any = await _eventually(lambda: nats.connect(servers=urls, max_reconnect_attempts=-1, reconnect_time_wait=0.2))
    js = nc.jetstream(timeout=10)
    # One stream and one bucket as every service declares them (all of them take ~12 s of raft groups here).
    await _eventually(lambda: ensure_stream(js, STREAMS[0]))  # once the cluster has elected its meta leader
    await ensure_bucket(js, BUCKETS[0])
    events = await js.stream_info(subjects.EVENTS_STREAM)
    rules = await js.stream_info(f"KV_{subjects.RULES_BUCKET}")
    assert events.config.num_replicas == rules.config.num_replicas == 3
    assert events.cluster is not None and len(events.cluster.replicas or []) == 2  # the leader and two followers

    leader = events.cluster.leader
    victim = next(n for n in range(SERVERS) if f"nats-{n}" != leader)
    procs[victim].terminate()
    procs[victim].wait(timeout=10)
    ack = await _eventually(lambda: js.publish(subjects.ingest_subject("acme"), b'{"cpu": 1}'))
    assert ack.stream == subjects.EVENTS_STREAM  # stored by a quorum of the two left
    await nc.close()

    with pytest.raises(Exception, match=r"(?i)authoriz"):  # nobody answers the auth callout here: refused
        await nats.connect(f"nats://127.0.0.1:{ports[victim - 1]}", allow_reconnect=False, connect_timeout=10)


async def _eventually(make: Any, timeout: float = 30) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            return await make()
        except Exception:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.3)
