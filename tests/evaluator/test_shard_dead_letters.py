"""A shard reports what it cannot process as dead letters on CEP_DEAD, and keeps going (real nats-server, Ray)."""

from __future__ import annotations

import asyncio
from typing import Any

import nats

from services.common.domain.events.model import Event
from services.common.domain.rules.rule_failures import RuleFailure
from services.common.messages import codec
from services.common.messages.dead_letters import DeadLetter, decode
from services.common.messages.work import work_event, work_events, work_item, work_rule
from services.common.nats import subjects
from services.common.nats.streams import ensure_streams
from services.evaluator.dead_letters import publish_rule_failures
from services.evaluator.options import ShardOptions
from tests.evaluator.conftest import Actors
from tests.evaluator.kit import alerts, at, change, connect, eventually, make_rule, publish_in_order, read
from tests.support.nats import NatsServer

# A multiscale anomaly rule raises (OverflowError) on a second sample near the float limit; `plain` never does.
MULTISCALE: dict[str, Any] = {
    "trigger_type": "anomaly",
    "trigger_spec": {"value_path": "cpu_usage", "anomaly_method": "multiscale", "threshold": 3, "min_baseline": 3},
}
PLAIN: dict[str, Any] = {
    "trigger_type": "metric",
    "trigger_spec": {"metric_name": "cpu_usage", "operator": ">", "threshold": 85},
}


def work() -> list[bytes]:
    out = [work_rule(change(make_rule(MULTISCALE, "ms"))), work_rule(change(make_rule(PLAIN, "plain")))]
    values = [50, 51, 52, 53, 54, 55, 1e308, 1e308, 60, 61]
    out += [work_event(Event(f"ev-{n}", "acme", at(n), {"cpu_usage": v})) for n, v in enumerate(values)]
    out.insert(5, b"not json")
    return out


async def letters(js: Any) -> list[DeadLetter]:
    return [decode(data) for _, data in await read(js, subjects.DEAD_STREAM, f"{subjects.DEAD_PREFIX}.>")]


async def test_rule_failures_and_undecodable_work_become_dead_letters(broker: NatsServer, actors: Actors) -> None:
    nc, js = await connect(broker.url)
    seqs = await publish_in_order(js, subjects.work_subject(0), work())
    actor = actors.new(0, ShardOptions(shards=1, snapshot_interval=3600, chunk=4))
    await actor.start.remote(broker.url)

    async def reported() -> bool:
        status = await actor.status.remote()
        return status["last_seq"] >= seqs[-1] and len(await letters(js)) >= 2

    await eventually(reported, "the shard to report two dead letters")
    found = {letter.source: letter for letter in await letters(js)}
    assert sorted(found) == ["rule_failure", "undecodable"]

    failure = found["rule_failure"]
    assert (failure.tenant, failure.rule_id, failure.event and failure.event["event_id"]) == ("acme", "ms", "ev-7")
    assert failure.error.startswith("OverflowError") and failure.event["payload"] == {"cpu_usage": 1e308}
    assert failure.replay is not None and failure.replay.subject == subjects.ingest_subject("acme")
    assert codec.loads(failure.replay.data) == {"cpu_usage": 1e308}

    broken = found["undecodable"]
    assert broken.tenant == "default" and broken.origin == {
        "stream": subjects.WORK_STREAM,
        "seq": seqs[5],
        "index": 0,
        "subject": subjects.work_subject(0),
    }
    assert "malformed work message" in broken.error and broken.replay is None

    # The other rule judged the bad event, and the failing one goes on with later events.
    stored = await alerts(js)
    assert [(a["rule_id"], a["kind"], a["source_event_id"]) for a in stored if a["rule_id"] == "plain"] == [
        ("plain", "fired", "ev-6"),
        ("plain", "resolved", "ev-8"),
    ]
    status = await actor.status.remote()
    assert status["poison"] == 1 and status["pending"] == 0
    await nc.close()


async def test_a_rule_failure_letter_is_retried_until_stored(broker: NatsServer) -> None:
    """No stream takes cep.dead.* yet (a publish finds no responders): the letter waits until one does."""
    nc = await nats.connect(broker.url)
    js = nc.jetstream()  # no streams declared
    try:
        failure = RuleFailure("r1", "acme", Event("ev-1", "acme", at(1), {"cpu_usage": 1e308}), "OverflowError: x")
        pending = asyncio.create_task(publish_rule_failures(js, 0, [failure]))
        await asyncio.sleep(1.0)
        assert not pending.done()  # still retrying: nothing could store it
        await ensure_streams(js)
        assert await asyncio.wait_for(pending, 30) == 1
        [letter] = await letters(js)
        assert (letter.source, letter.rule_id, letter.error) == ("rule_failure", "r1", "OverflowError: x")
    finally:
        await nc.close()


async def test_work_with_a_wrong_field_is_dead_lettered_with_the_field_named(
    broker: NatsServer, actors: Actors
) -> None:
    nc, js = await connect(broker.url)
    good = codec.loads(work_item(1, 0, Event("ev-ok", "acme", at(1), {"cpu_usage": 90})))
    bad_item = {**good, "seq": "first"}
    messages = [
        work_rule(change(make_rule(PLAIN, "plain"))),
        codec.dumps({"kind": "tick", "now": 12}),  # wrong type
        codec.dumps({"kind": "trigger", "event": good["event"], "reply": "r"}),  # rule_id missing
        work_events([codec.dumps(good), codec.dumps(bad_item)]),
    ]
    seqs = await publish_in_order(js, subjects.work_subject(0), messages)
    actor = actors.new(0, ShardOptions(shards=1, snapshot_interval=3600, chunk=4))
    await actor.start.remote(broker.url)

    async def reported() -> bool:
        status = await actor.status.remote()
        return status["last_seq"] >= seqs[-1] and len(await letters(js)) >= 3

    await eventually(reported, "the shard to report three dead letters")
    errors = sorted(letter.error for letter in await letters(js) if letter.source == "undecodable")
    assert errors == [
        "malformed work item: events.1.seq: expected an integer, got str",
        "malformed work message: now: expected an RFC 3339 time string, got int",
        "malformed work message: rule_id: Field required",
    ]
    stored = await alerts(js)  # the good event of the batch was applied all the same
    assert [(a["rule_id"], a["source_event_id"]) for a in stored] == [("plain", "ev-ok")]
    await nc.close()
