"""An hbos rule in a shard actor (real NATS, real Ray): refits on the actor's pool, the alerts of inline refits.

The actor is stopped half way (a final snapshot) and a new one restores and carries on; the alerts still equal
what the pure core computes with inline refits, and the refit cost shows in the status, its metrics and the
anomaly status.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from services.common.domain.events.model import Event
from services.common.messages.work import work_event, work_rule
from services.common.nats import subjects
from services.evaluator.metrics import ShardCollector
from services.evaluator.options import ShardOptions
from tests.common.domain.kit import BY_HOST
from tests.evaluator.conftest import Actors
from tests.evaluator.kit import (
    alerts,
    at,
    by_id,
    change,
    connect,
    eventually,
    make_rule,
    oracle,
    publish_in_order,
    read,
)
from tests.support.nats import NatsServer

HBOS: dict[str, Any] = {**BY_HOST, "action_spec": [{"type": "notify", "channel": "ops"}]}

pytestmark = pytest.mark.slow  # numba compiles hbos in every shard actor: about 45 s


def samples(first: int, count: int) -> list[bytes]:
    out = []
    for n in range(first, first + count):
        for host, phase in (("a", 0.0), ("b", 1.0)):
            value = 50 + 8 * math.sin(n / 6 + phase) + (n * 37 % 7) / 3 + (45 if n % 70 == 69 else 0)
            out.append(work_event(Event(f"ev-{n}-{host}", "acme", at(n), {"v": value, "host": host})))
    return out


async def test_refits_off_the_hot_path_keep_the_alerts_across_a_restart(broker: NatsServer, actors: Actors) -> None:
    nc, js = await connect(broker.url)
    subject = subjects.work_subject(0)
    options = ShardOptions(shards=1, snapshot_interval=3600, chunk=16)
    first_half = await publish_in_order(js, subject, [work_rule(change(make_rule(HBOS, "hbos"))), *samples(0, 130)])
    actor = actors.new(0, options)
    await actor.start.remote(broker.url)

    async def caught_up(target: Any, seq: int) -> bool:
        return bool((await target.status.remote())["last_seq"] >= seq)

    await eventually(lambda: caught_up(actor, first_half[-1]), "the first half", timeout=120)  # numba compiles first
    before = await actor.stop.remote()  # a final snapshot, taken with refits in flight or not
    assert before["counters"]["refits"] >= 2 * 5 and before["counters"]["refit_seconds"] > 0

    successor = actors.new(0, options)
    await successor.start.remote(broker.url)
    last = (await publish_in_order(js, subject, samples(130, 150)))[-1]
    await eventually(lambda: caught_up(successor, last), "the second half", timeout=120)

    expected = by_id(oracle(await read(js, subjects.WORK_STREAM, subject)))  # one engine, inline refits
    assert len(expected) >= 6
    assert by_id(await alerts(js)) == expected

    status = await successor.status.remote()
    assert status["counters"]["refits"] >= 2 * 6  # this incarnation's own refits, after the restore
    anomaly = await successor.anomaly_status.remote("hbos")
    assert anomaly["ready"] and all(key["baseline"]["refits"] >= 6 for key in anomaly["keys"].values())

    collector, registry = ShardCollector(), CollectorRegistry()
    registry.register(collector)
    collector.update([before, status])
    text = generate_latest(registry).decode()
    refits = before["counters"]["refits"] + status["counters"]["refits"]
    assert f"cep_eval_refits_total {float(refits)}" in text
    await nc.close()
