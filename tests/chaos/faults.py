"""The faults: each knows where its in-flight work shows, how to strike, and when its victim is back.

`strike` does the whole fault (a pause lasts its pause) and returns a probe that is true once the victim has
been replaced or resumed; the recovery clock starts when `strike` returns. Budgets are the recovery budgets
stated in docs/reliability.md.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from tests.chaos.observe import SHARDS, children, consumer_backlog, shard_actor_pids
from tests.chaos.proxy import DroppingProxy
from tests.support.stack import Stack

Probe = Callable[[], bool]
PAUSE_SECONDS = 8.0
PROXY_DROPS, PROXY_GAP = 3, 2.0


Evidence = Callable[[Stack], dict[str, int]]


@dataclass(frozen=True)
class Fault:
    name: str
    budget: float  # seconds from the end of the fault to ready
    in_flight: Evidence  # the work the fault hits, read just before it strikes (empty: none)
    strike: Callable[[Stack, random.Random], Probe]


def backlog(*prefixes: str) -> Evidence:
    """Un-acked messages (pending + ack-pending) of the consumers named `STREAM/consumer...`, those with any."""

    def read(stack: Stack) -> dict[str, int]:
        return {name: n for name, n in consumer_backlog(stack.state_dir).items() if n and name.startswith(prefixes)}

    return read


def _restarted(stack: Stack, service: str) -> Probe:
    before = children(stack.state_dir)[service]["restarts"]

    def probe() -> bool:
        record = children(stack.state_dir)[service]
        return bool(record["restarts"] > before and record["running"])

    return probe


def kill(service: str) -> Callable[[Stack, random.Random], Probe]:
    def strike(stack: Stack, _rng: random.Random) -> Probe:
        probe = _restarted(stack, service)
        os.killpg(children(stack.state_dir)[service]["pid"], signal.SIGKILL)
        return probe

    return strike


def kill_shard_actor(stack: Stack, rng: random.Random) -> Probe:
    actors = sorted(shard_actor_pids(stack.state_dir))
    assert actors, "no shard actor process found"
    victim = rng.choice(actors)
    os.kill(victim, signal.SIGKILL)

    def probe() -> bool:
        now = shard_actor_pids(stack.state_dir)
        return victim not in now and len(now) >= SHARDS

    return probe


def pause(service: str, seconds: float = PAUSE_SECONDS) -> Callable[[Stack, random.Random], Probe]:
    def strike(stack: Stack, _rng: random.Random) -> Probe:
        group = children(stack.state_dir)[service]["pid"]
        os.killpg(group, signal.SIGSTOP)
        try:
            time.sleep(seconds)
        finally:
            os.killpg(group, signal.SIGCONT)
        return lambda: True

    return strike


def drop_connections(proxy: DroppingProxy, drops: int = PROXY_DROPS) -> Callable[[Stack, random.Random], Probe]:
    """Cut the service's NATS connections `drops` times, `PROXY_GAP` apart; back once it has reconnected."""

    def strike(stack: Stack, _rng: random.Random) -> Probe:
        cut, before_last = 0, 0
        for n in range(drops):
            if n:
                time.sleep(PROXY_GAP)
            before_last = proxy.connections
            cut += proxy.drop()
        assert cut, "the proxy had no connection to drop"
        return lambda: proxy.connections > before_last  # the service connected again after the last cut

    return strike


def scheduler_leading(stack: Stack) -> dict[str, int]:
    """The scheduler's in-flight work: the lease it holds and the runs it fires every second."""
    with httpx.Client(base_url=stack.url, headers={"Authorization": f"Bearer {stack.token}"}, timeout=10) as api:
        status = api.get("/cep/scheduler/status").json()
    return {"lease held (fencing)": int(status.get("leader_fencing") or 0)} if status.get("leader") else {}
