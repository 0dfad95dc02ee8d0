"""What a chaos test reads from a running stack: nats-server's /jsz, the supervisor's records, readiness, pids."""

from __future__ import annotations

import contextlib
import json
import time
import urllib.request
from pathlib import Path
from typing import Any

from services.common.cli.procs import cmdline
from tests.support.stack import Stack, stack_pids

SHARDS = 2  # CEP_SHARDS' default: the shard actors every ready stack runs


def _ports(state_dir: Path) -> dict[str, int]:
    return dict(json.loads((state_dir / "ports.json").read_text()))


def consumer_backlog(state_dir: Path) -> dict[str, int]:
    """`STREAM/consumer` -> messages not yet acked (pending + ack-pending), from nats-server's monitoring port."""
    url = f"http://127.0.0.1:{_ports(state_dir)['nats_monitor']}/jsz?consumers=true"
    with urllib.request.urlopen(url, timeout=2) as response:
        info = json.loads(response.read())
    backlog: dict[str, int] = {}
    for account in info.get("account_details", []):
        for stream in account.get("stream_detail", []):
            for consumer in stream.get("consumer_detail") or []:
                waiting = consumer.get("num_pending", 0) + consumer.get("num_ack_pending", 0)
                backlog[f"{stream['name']}/{consumer['name']}"] = waiting
    return backlog


def work_unacked(state_dir: Path) -> int:
    """Pending + ack-pending of the shard consumers on CEP_WORK."""
    return sum(n for name, n in consumer_backlog(state_dir).items() if name.startswith("CEP_WORK/"))


def children(state_dir: Path) -> dict[str, dict[str, Any]]:
    """The supervisor's record of each child (`pid`, `running`, `restarts`, ...), nats-server included."""
    return dict(json.loads((state_dir / "supervisor.json").read_text())["children"])


def shard_actor_pids(state_dir: Path) -> list[int]:
    """The Ray worker processes of this stack's shard actors."""
    return [pid for pid in stack_pids(state_dir) if "ShardActor" in cmdline(pid)]


def is_ready(stack: Stack) -> bool:
    """The gateway's /readyz is 200: NATS, the database and every peer ready, every shard actor consuming."""
    with contextlib.suppress(OSError, ValueError), urllib.request.urlopen(f"{stack.url}/readyz", timeout=4) as r:
        return bool(r.status == 200)
    return False


def wait_ready(stack: Stack, timeout: float = 90) -> None:
    """Wait for the whole stack, every shard actor consuming, to be ready (after an earlier test's fault)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_ready(stack) and len(shard_actor_pids(stack.state_dir)) >= SHARDS:
            return
        time.sleep(0.3)
    raise AssertionError("the stack did not become ready again")
