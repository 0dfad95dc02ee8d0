"""A shard actor end to end: its work stream in, alerts out, equal to what the pure core computes."""

from __future__ import annotations

import os
from typing import Any

from services.common.domain.events.model import Event
from services.common.messages import codec
from services.common.messages.work import event_to_dict, work_event, work_rule, work_tick, work_trigger
from services.common.nats import subjects
from services.evaluator.options import ShardOptions
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

CPU: dict[str, Any] = {
    "trigger_type": "metric",
    "trigger_spec": {
        "metric_name": "cpu_usage",
        "operator": ">",
        "threshold": 85,
        "duration": "30s",
        "group_by": ["host"],
    },
    "action_spec": [{"type": "notify", "channel": "slack-ops", "message": "CPU high"}],
}
ERRORS = {
    "trigger_type": "event",
    "trigger_spec": {"event_type": "error", "group_by": ["service"], "resolve_after": "1m", "notify_resolved": True},
    "action_spec": [{"type": "webhook", "channel": "hook"}],
}
DEPLOYS = {"trigger_type": "event", "trigger_spec": {"event_type": "deploy"}}


def scenario() -> list[bytes]:
    """Rules, 400 events over 400 s of event time, ticks, a rule change, a delete and two poison messages."""
    cpu, errors = make_rule(CPU, "cpu"), make_rule(ERRORS, "errors")
    quiet = make_rule(DEPLOYS, "quiet", active=False)
    work = [work_rule(change(r)) for r in (cpu, errors, quiet)]
    for i in range(400):
        if i % 2 == 0:
            payload: dict[str, Any] = {"cpu_usage": 80 + (i * 7) % 15, "host": f"h{i % 3}"}
            work.append(work_event(Event(f"ev-{i}", "acme", at(i), payload)))
        else:
            work.append(work_event(Event(f"ev-{i}", "acme", at(i), {"service": f"s{i % 4}"}, "error")))
        if i % 20 == 19:
            work.append(work_tick(at(i + 0.5)))
        if i == 200:
            work.append(
                work_rule(
                    change(
                        make_rule({**CPU, "trigger_spec": {**CPU["trigger_spec"], "threshold": 90}}, "cpu", version=2)
                    )
                )
            )
        if i == 250:
            work += [b"not json", codec.dumps({"kind": "event", "event": {"bad": 1}})]
        if i == 300:
            work.append(work_rule(change(errors, "delete")))
    work.append(work_tick(at(1000)))
    return work


async def test_the_actor_publishes_what_the_pure_core_computes(broker: NatsServer, actors: Actors) -> None:
    nc, js = await connect(broker.url)
    work = scenario()
    subject = subjects.work_subject(0)
    await publish_in_order(js, subject, work[:200])  # a backlog before the start, the rest while it runs
    actor = actors.new(0, ShardOptions(shards=1, snapshot_interval=0.2, chunk=16))
    status = await actor.start.remote(broker.url)
    assert status["consuming"] and status["resumed_from"] == 0
    reply = subjects.trigger_reply_subject("t1")
    answers = await nc.subscribe(reply)
    trigger = work_trigger(Event("ev-trigger", "acme", at(2000), {"service": "api"}), "quiet", reply)
    last = (await publish_in_order(js, subject, [*work[200:], trigger]))[-1]

    async def caught_up() -> bool:
        return (await actor.status.remote())["last_seq"] >= last

    await eventually(caught_up, "the shard to process its input")
    answer = codec.loads((await answers.next_msg(timeout=5)).data)
    assert (answer["matched"], answer["state"], answer["errors"]) == (True, "firing", [])
    assert answer["event_id"]

    expected = by_id(oracle(await read(js, subjects.WORK_STREAM, subject)))
    stored = await alerts(js)
    assert len(stored) == len(expected)  # no restart: each transition exactly once
    assert by_id(stored) == expected
    kinds = {a["kind"] for a in stored}
    assert kinds == {"fired", "updated", "resolved"}
    assert any(a["reason"] == "rule deleted" for a in stored) and any(a["rule_id"] == "quiet" for a in stored)
    assert all(a["actions"] == [{"type": "webhook", "channel": "hook"}] for a in stored if a["rule_id"] == "errors")

    status = await actor.status.remote()
    assert status["poison"] == 2 and [p["seq"] for p in status["recent_poison"]] == sorted(
        p["seq"] for p in status["recent_poison"]
    )
    assert status["rules"] == 2  # cpu (v2) and the inactive one; errors was deleted
    assert status["pending"] == 0 and status["counters"]["events"] == 400
    assert sum(status["counters"]["transitions"].values()) == len(stored)
    await nc.close()


async def test_an_event_the_engine_chokes_on_is_isolated_by_a_careful_replay(
    broker: NatsServer, actors: Actors
) -> None:
    nc, js = await connect(broker.url)
    subject = subjects.work_subject(0)
    work = [work_rule(change(make_rule(ERRORS, "errors")))]
    for i in range(120):
        payload: Any = [1, 2] if i == 37 else {"service": f"s{i % 3}"}  # a list payload: the engine raises on it
        work.append(
            codec.dumps(
                {
                    "kind": "event",
                    "event": {
                        **event_to_dict(Event(f"ev-{i}", "acme", at(i * 30), {})),
                        "event_type": "error",
                        "payload": payload,
                    },
                }
            )
        )
    seqs = await publish_in_order(js, subject, work)
    actor = actors.new(0, ShardOptions(shards=1, snapshot_interval=3600, chunk=50))
    await actor.start.remote(broker.url)

    async def caught_up() -> bool:
        return bool((await actor.status.remote())["last_seq"] >= seqs[-1])

    await eventually(caught_up, "the shard to get past the bad event")
    status = await actor.status.remote()
    assert status["poison"] == 1 and status["recent_poison"][0]["seq"] == seqs[38]
    assert status["recent_poison"][0]["event_id"] == "ev-37" and "AttributeError" in status["recent_poison"][0]["error"]
    stored = await alerts(js)
    expected = by_id(oracle(await read(js, subjects.WORK_STREAM, subject)))
    assert by_id(stored) == expected and len(expected) > 100
    await nc.close()


async def test_shards_run_at_normal_priority_unless_told_otherwise(broker: NatsServer, actors: Actors) -> None:
    """Ray starts its workers at nice 15; a shard sets its own nice value (CEP_SHARD_NICENESS, 0 by default)."""
    default, told = actors.new(0, ShardOptions(shards=2)), actors.new(1, ShardOptions(shards=2, niceness=7))
    for actor, niceness in ((default, 0), (told, 7)):
        pid = (await actor.status.remote())["pid"]
        assert _thread_niceness(pid) == {niceness}  # every thread: the event loop's too


def _thread_niceness(pid: int) -> set[int]:
    """The nice values of a process's threads (field 19 of /proc/<pid>/task/<tid>/stat)."""
    found = set()
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/stat") as stat:
            found.add(int(stat.read().rsplit(")", 1)[1].split()[16]))
    return found
