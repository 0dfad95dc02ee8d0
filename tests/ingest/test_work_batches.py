"""The router's batching: one work message per shard per segment, split at the size limit, triggers in order."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from services.common.domain.events.model import Event
from services.common.messages.raw_batches import RAW_BATCH_OVERHEAD, RawRow, decode_raw_batch, row_cost
from services.common.messages.work import WORK_EVENTS_OVERHEAD, work_item
from services.common.nats.publishing import Outgoing
from services.ingest.routing import RoutedEvent, RoutedRaw
from services.ingest.work_batches import WorkBatches, work_limit

AT = datetime(2024, 5, 1, 12, tzinfo=UTC)
STAMP = "2024-05-01T12:00:00Z"


def routed(seq: int, shards: tuple[int, ...], index: int = 0, blob: str = "") -> RoutedEvent:
    event = Event(f"e{seq}.{index}", "acme", AT, {"cpu": 1, "blob": blob})
    return RoutedEvent(seq, index, work_item(seq, index, event), shards)


def positions(message: Outgoing) -> list[tuple[int, int]]:
    return [(item["seq"], item["index"]) for item in orjson.loads(message.payload)["events"]]


def test_one_message_per_shard_with_its_events_in_routing_order() -> None:
    batches = WorkBatches(1 << 20)
    for event in (routed(1, (0, 1)), routed(2, (1,)), routed(3, (0,), 0), routed(3, (0, 1), 1)):
        batches.add(event)
    [out] = batches.close()  # one wave: one message per shard
    assert [(m.subject, m.msg_id) for m in out] == [
        ("cep.work.0", "events:1.0-3.1:0"),
        ("cep.work.1", "events:1.0-3.1:1"),
    ]
    assert [positions(m) for m in out] == [[(1, 0), (3, 0), (3, 1)], [(1, 0), (2, 0), (3, 1)]]
    assert orjson.loads(out[0].payload)["kind"] == "events"
    assert WorkBatches(100).close() == []


def test_a_batch_is_split_only_to_stay_under_the_limit() -> None:
    events = [routed(seq, (0,), blob="x" * 300) for seq in range(1, 11)]
    limit = WORK_EVENTS_OVERHEAD + 3 * len(events[0].item) + 2  # exactly three items and their commas
    batches = WorkBatches(limit)
    for event in events:
        batches.add(event)
    waves = batches.close()
    assert [len(wave) for wave in waves] == [1, 1, 1, 1]  # each stored before the next goes out
    out = [message for wave in waves for message in wave]
    assert [len(positions(m)) for m in out] == [3, 3, 3, 1]
    assert all(len(m.payload) <= limit for m in out)
    assert [p for m in out for p in positions(m)] == [(seq, 0) for seq in range(1, 11)]
    assert len({m.msg_id for m in out}) == 4
    assert work_limit(1 << 20) < 1 << 20  # room for the message id header


def test_a_trigger_follows_the_events_routed_to_its_shard_before_it() -> None:
    batches = WorkBatches(1 << 20)
    batches.add(routed(1, (0, 1)))
    batches.add_message(Outgoing("cep.work.1", b"trigger", "t1:1"))
    batches.add(routed(2, (1,)))
    waves = [[m.msg_id for m in wave] for wave in batches.close()]
    assert waves == [["events:1.0-1.0:0", "events:1.0-1.0:1"], ["t1:1"], ["events:2.0-2.0:1"]]


def raw(seq: int, picks: dict[int, tuple[int, ...]], blob: str = "") -> RoutedRaw:
    data = orjson.dumps([{"cpu": 1, "blob": blob}, {"cpu": 2}])
    rows = {
        s: RawRow(seq, "cep.ingest.acme", "2024-05-01T12:00:00Z", None, f"m{seq}", data, p) for s, p in picks.items()
    }
    return RoutedRaw(seq, {shard: (row, row_cost(row)) for shard, row in rows.items()})


def test_raw_messages_go_whole_with_each_shards_picks_and_the_shard_count_in_the_id() -> None:
    batches = WorkBatches(1 << 20, shards=2)
    batches.add(raw(1, {0: (0,), 1: (1,)}))
    batches.add(raw(2, {1: (0, 1)}))
    [out] = batches.close()
    assert [(m.subject, m.msg_id) for m in out] == [
        ("cep.work.0", "raw:1.0-1.0:0/2"),
        ("cep.work.1", "raw:1.1-2.1:1/2"),  # from the first message's second event to the second's
    ]
    rows = decode_raw_batch(out[1].payload)
    assert [(row.seq, row.msg_id, row.picks) for row in rows] == [(1, "m1", (1,)), (2, "m2", (0, 1))]
    assert (
        rows[0].data == orjson.dumps([{"cpu": 1, "blob": ""}, {"cpu": 2}]) and rows[0].stamp == "2024-05-01T12:00:00Z"
    )
    assert len(out[1].payload) <= RAW_BATCH_OVERHEAD + sum(row_cost(row) for row in rows)


def test_raw_batches_split_under_the_limit_and_never_mix_with_json_items() -> None:
    entries = [raw(seq, {0: (0, 1)}, blob="x" * 300) for seq in range(1, 8)]
    cost = entries[0].rows[0][1]
    batches = WorkBatches(RAW_BATCH_OVERHEAD + 3 * cost, shards=1)
    for entry in entries[:4]:
        batches.add(entry)
    batches.add(routed(5, (0,), index=5))  # a message too large to forward whole went as JSON items
    for entry in entries[5:]:
        batches.add(entry)
    out = [m for wave in batches.close() for m in wave]
    assert [m.msg_id for m in out] == ["raw:1.0-3.1:0/1", "raw:4.0-4.1:0/1", "events:5.5-5.5:0", "raw:6.0-7.1:0/1"]
    assert all(len(m.payload) <= RAW_BATCH_OVERHEAD + 3 * cost for m in out)
