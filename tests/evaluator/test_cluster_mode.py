"""Cluster mode: the evaluator attaches to a separate `ray start --head` via RAY_ADDRESS and its shards run there.

The evaluator runs as a subprocess (this pytest process already holds the session's local Ray), against a
head started on loopback with random ports and its own temp dir, stopped by its process group afterwards
(never `ray stop`, which would end every Ray on the machine).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import httpx
import nats
import orjson
import psutil
import pytest

from services.common.cli.procs import free_port, kill_matching
from services.common.pb.cep.v1 import evaluator_pb2, evaluator_pb2_grpc
from services.ingest.router import Router
from tests.evaluator.flow import publish_rule, publish_samples, stored_alerts
from tests.evaluator.kit import connect, eventually, make_rule
from tests.support.nats import NatsServer

pytestmark = pytest.mark.slow  # a Ray head and an evaluator of their own: about 40 s here

RAY = str(Path(sys.executable).parent / "ray")


@dataclass(frozen=True)
class Head:
    address: str
    port: int
    pid: int  # `ray start --block`: the head's GCS, raylet and (through the raylet) its workers descend from it


HEAD_ATTEMPTS = 3  # a port picked free may be taken before the head binds it: then another set of ports
HEAD_READY_SECONDS = 60.0


@pytest.fixture
def ray_head() -> Iterator[Head]:
    """A Ray head on 127.0.0.1 (random ports, short temp dir), its GCS port answering; output in its temp dir."""
    temp = tempfile.mkdtemp(prefix="rc", dir="/tmp")  # short: Ray's Unix sockets live under it
    head: subprocess.Popen[bytes] | None = None
    try:
        for attempt in range(1, HEAD_ATTEMPTS + 1):
            port = free_port()
            head = _start_head(temp, port, Path(temp) / f"head-{attempt}.log")
            if _gcs_answers(head, port):
                break
            _stop_head(head, temp)
            head = None
        if head is None:
            logs = "".join(path.read_text(errors="replace")[-2000:] for path in sorted(Path(temp).glob("head-*.log")))
            raise AssertionError(f"no Ray head came up in {HEAD_ATTEMPTS} attempts:\n{logs}")
        yield Head(f"127.0.0.1:{port}", port, head.pid)
    finally:
        if head is not None:
            _stop_head(head, temp)
        shutil.rmtree(temp, ignore_errors=True)


def _start_head(temp: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    ports = {
        "--port": port,
        "--node-manager-port": free_port(),
        "--object-manager-port": free_port(),
        "--ray-client-server-port": free_port(),
        "--dashboard-agent-listen-port": free_port(),
        "--dashboard-agent-grpc-port": free_port(),
        "--runtime-env-agent-port": free_port(),
        "--metrics-export-port": free_port(),
        "--min-worker-port": 0,  # any free port
        "--max-worker-port": 0,
    }
    args = [RAY, "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--temp-dir={temp}", "--num-cpus=2"]
    args += ["--include-dashboard=false", "--disable-usage-stats", *(f"{k}={v}" for k, v in ports.items())]
    with log.open("wb") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=_env())


def _gcs_answers(head: subprocess.Popen[bytes], port: int) -> bool:
    """True once the head's GCS port takes connections; False when the head exits or takes too long."""
    deadline = time.monotonic() + HEAD_READY_SECONDS
    while time.monotonic() < deadline and head.poll() is None:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
        time.sleep(0.2)
    return False


def _stop_head(head: subprocess.Popen[bytes], temp: str) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(head.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        head.wait(timeout=15)
    _kill_naming(temp)  # workers and agents live in their own process groups


async def test_the_evaluator_attaches_to_a_ray_cluster_and_its_shards_run_there(
    broker: NatsServer, ray_head: Head, tmp_path: Path
) -> None:
    http, grpc_port = free_port(), free_port()
    env = _env() | {
        "RAY_ADDRESS": ray_head.address,
        "CEP_NATS_URL": broker.url,
        "CEP_STATE_DIR": str(tmp_path / "state"),
        "CEP_SHARDS": "2",
        "CEP_EVALUATOR_PORT": str(http),
        "CEP_EVALUATOR_GRPC_PORT": str(grpc_port),
    }
    log = (tmp_path / "evaluator.log").open("w")
    evaluator = subprocess.Popen(
        [sys.executable, "-m", "services.evaluator"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    nc, js = await connect(broker.url)
    router_nc = await nats.connect(broker.url)
    router = Router(router_nc, default_shards=2, fetch_seconds=0.2)
    await router.start()
    try:
        try:
            await eventually(lambda: _ready(http, evaluator), "the evaluator ready on the cluster", timeout=120)
        except AssertionError as exc:  # say why: the evaluator's own account
            log.flush()
            tail = (tmp_path / "evaluator.log").read_text(errors="replace")[-3000:]
            raise AssertionError(f"{exc}; the evaluator's log ends:\n{tail}") from None
        async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            reply = await evaluator_pb2_grpc.EvaluatorStub(channel).ShardStatus(evaluator_pb2.ShardStatusRequest())
        shards = [orjson.loads(s.detail_json) for s in reply.shards]
        assert [s["shard"] for s in shards] == [0, 1]
        # The actors joined the head's cluster (Ray reports the node's own IP) and run in its worker processes.
        assert {int(s["gcs_address"].rsplit(":", 1)[1]) for s in shards} == {ray_head.port}
        assert all(ray_head.pid in _ancestors(s["pid"]) and s["node_id"] for s in shards)

        rule = make_rule(
            {"trigger_type": "metric", "trigger_spec": {"metric_name": "cpu_usage", "operator": ">", "threshold": 90}},
            "cpu-hot",
        )
        await publish_rule(js, rule)
        await publish_samples(js, rule.tenant, ["gt-01"], datetime.now(UTC) - timedelta(seconds=5), [0], 97)

        async def fired() -> bool:
            return any(a["kind"] == "fired" and a["rule_id"] == "cpu-hot" for a in await stored_alerts(js))

        await eventually(fired, "the rule to fire on the cluster's shard", timeout=60)
    finally:
        await router.stop()
        await router_nc.close()
        await nc.close()
        evaluator.send_signal(signal.SIGTERM)
        try:
            evaluator.wait(timeout=20)
        except subprocess.TimeoutExpired:
            evaluator.kill()
            evaluator.wait()
        log.close()
    assert evaluator.returncode == 0, (tmp_path / "evaluator.log").read_text()[-3000:]


async def _ready(port: int, process: subprocess.Popen[Any]) -> bool:
    if process.poll() is not None:
        raise AssertionError(f"the evaluator exited with {process.returncode}")
    try:
        async with httpx.AsyncClient(timeout=3) as client:
            return (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200
    except httpx.HTTPError:
        return False


TOKEN = secrets.token_hex(16)


def _env() -> dict[str, str]:
    """The head and the evaluator share a Ray auth token, as a KubeRay cluster and its clients do."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CEP_", "RAY_"))}
    return env | {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": TOKEN}


def _ancestors(pid: int) -> list[int]:
    """The parent chain of a process, from its parent up to init."""
    with contextlib.suppress(psutil.Error):
        return [parent.pid for parent in psutil.Process(pid).parents()]
    return []


def _kill_naming(text: str) -> None:
    """SIGKILL every process whose command line names `text` (the head's temp dir), this test's leftovers."""
    kill_matching(text)
    time.sleep(0.2)
