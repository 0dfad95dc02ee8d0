"""A shard actor on batched work messages (raw batches, and the JSON batches of earlier versions): router replays
under other batch boundaries, poison items, restarts."""

from __future__ import annotations

from typing import Any

from services.common.domain.evaluation.rule_engine import RuleEngine
from services.common.domain.events.model import Event, format_time
from services.common.domain.rules.model import Rule
from services.common.messages import codec
from services.common.messages.raw_batches import RawRow, encode_raw_batch
from services.common.messages.work import event_to_dict, work_events, work_item, work_rule
from services.common.nats import subjects
from services.evaluator.options import ShardOptions
from tests.evaluator.conftest import Actors
from tests.evaluator.kit import alerts, at, change, connect, eventually, make_rule, publish_in_order
from tests.support.nats import NatsServer

# sum of `load` over 10 minutes per host above 15: sixteen events of load 1 fire it once, at the sixteenth.
# Any event applied twice would make it fire earlier, under another transition id.
LOAD = {
    "trigger_type": "metric",
    "trigger_spec": {
        "metric_name": "load",
        "operator": ">",
        "threshold": 15,
        "aggregation": "sum",
        "window": "10m",
        "group_by": ["host"],
    },
}


def load(raw: int) -> Event:
    """The event at raw sequence `raw` (one per raw message)."""
    return Event(f"ev-{raw}", "acme", at(raw), {"load": 1, "host": "h0"})


def batch(raws: range, extra: list[bytes] | None = None) -> bytes:
    """A batched work message as the router builds it, for the events of raw sequences `raws`."""
    return work_events([work_item(raw, 0, load(raw)) for raw in raws] + (extra or []))


def raw_batch(raws: range, extra: list[RawRow] | None = None) -> bytes:
    """A raw batch as the router builds it: raw message `raw` as a producer stored it (id `ev-<raw>`)."""
    rows = [
        RawRow(raw, "cep.ingest.acme", format_time(at(0)), None, f"ev-{raw}", codec.dumps(load_payload(raw)), (0,))
        for raw in raws
    ]
    return encode_raw_batch(rows + (extra or []))


def load_payload(raw: int) -> dict[str, Any]:
    return {"load": 1, "host": "h0", "timestamp": format_time(at(raw))}


def expected(rule: Rule, raws: range) -> list[tuple[str, str]]:
    """The pure engine over each event once: (transition id, kind)."""
    engine = RuleEngine()
    engine.upsert_rule(rule)
    return [(t.transition_id, t.kind) for raw in raws for t in engine.on_events([load(raw)])]


async def stored(js: Any) -> list[tuple[str, str]]:
    return [(a["transition_id"], a["kind"]) for a in await alerts(js)]


async def done_through(actor: Any, seq: int) -> None:
    async def caught_up() -> bool:
        return bool((await actor.status.remote())["last_seq"] >= seq)

    await eventually(caught_up, f"the shard to process through work sequence {seq}")


async def test_a_replay_under_other_batch_boundaries_and_poison_items_change_no_transition(
    broker: NatsServer, actors: Actors
) -> None:
    nc, js = await connect(broker.url)
    rule = make_rule(LOAD, "load")
    # raw message 11 held three events: a good one, one the engine chokes on (a list payload), a malformed one
    choking = {**event_to_dict(load(11)), "event_id": "ev-11.1", "payload": [1, 2]}
    bad = [codec.dumps({"seq": 11, "index": 1, "event": choking}), codec.dumps({"seq": 11, "index": 2, "event": {}})]
    work = [
        work_rule(change(rule), (1, 0)),
        batch(range(2, 8)),
        batch(range(2, 12), bad),  # the router died after the first batch: 2..7 again
        batch(range(8, 18)),  # and once more, with other boundaries again
        work_rule(change(rule), (1, 0)),  # a rule change replayed outside the de-duplication window
    ]
    seqs = await publish_in_order(js, subjects.work_subject(0), work)
    actor = actors.new(0, ShardOptions(shards=1, snapshot_interval=3600, chunk=50))
    await actor.start.remote(broker.url)
    await done_through(actor, seqs[-1])

    assert await stored(js) == expected(rule, range(2, 18))
    assert [kind for _, kind in await stored(js)] == ["fired"]
    status = await actor.status.remote()
    assert status["counters"]["events"] == 16 and status["poison"] == 2
    poison = [(p["seq"], p["index"], p.get("event_id")) for p in status["recent_poison"]]
    assert poison == [(seqs[2], 10, "ev-11.1"), (seqs[2], 11, None)]  # the ten events before them were applied
    await nc.close()


async def test_a_restarted_shard_still_knows_the_raw_positions_it_applied(broker: NatsServer, actors: Actors) -> None:
    nc, js = await connect(broker.url)
    rule = make_rule(LOAD, "load")
    subject = subjects.work_subject(0)
    seqs = await publish_in_order(js, subject, [work_rule(change(rule), (1, 0)), batch(range(2, 12))])
    first = actors.new(0, ShardOptions(shards=1, snapshot_interval=3600))
    await first.start.remote(broker.url)
    await done_through(first, seqs[-1])
    assert (await first.stop.remote())["last_seq"] == seqs[-1]  # the last snapshot covers everything

    last = (await publish_in_order(js, subject, [batch(range(5, 18))]))[-1]  # 5..11 again, then 12..17
    second = actors.new(0, ShardOptions(shards=1, snapshot_interval=3600))
    assert (await second.start.remote(broker.url))["resumed_from"] == seqs[-1]
    await done_through(second, last)

    assert await stored(js) == expected(rule, range(2, 18))
    assert (await second.status.remote())["counters"]["events"] == 6
    await nc.close()


async def test_raw_batches_replayed_under_other_boundaries_apply_each_event_once(
    broker: NatsServer, actors: Actors
) -> None:
    nc, js = await connect(broker.url)
    rule = make_rule(LOAD, "load")
    stamp = format_time(at(0))
    missing = RawRow(11, "cep.ingest.acme", stamp, None, "ev-11", codec.dumps(load_payload(11)), (0, 4))
    work = [
        work_rule(change(rule), (1, 0)),
        raw_batch(range(2, 8)),
        raw_batch(range(2, 11), [missing]),  # the router died after the first batch: 2..7 again; no event 4 in 11
        raw_batch(range(8, 18)),  # and once more, with other boundaries again
    ]
    seqs = await publish_in_order(js, subjects.work_subject(0), work)
    actor = actors.new(0, ShardOptions(shards=1, snapshot_interval=3600, chunk=50))
    await actor.start.remote(broker.url)
    await done_through(actor, seqs[-1])

    assert await stored(js) == expected(rule, range(2, 18))
    status = await actor.status.remote()
    assert status["counters"]["events"] == 16 and status["poison"] == 1
    assert [(p["seq"], p["index"]) for p in status["recent_poison"]] == [(seqs[2], 10)]  # 2..10, then 11's picks
    await nc.close()
