"""The evaluator's pure pieces: decoding work, grouping it into engine calls, the shard state, metric totals."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from services.common.domain.evaluation.sharding import Placement
from services.common.domain.events.model import Event
from services.common.messages import codec
from services.common.messages.raw_batches import RawRow, encode_raw_batch
from services.common.messages.work import (
    event_to_dict,
    work_event,
    work_events,
    work_item,
    work_rule,
    work_tick,
    work_trigger,
)
from services.evaluator.metrics import ShardCollector, ShardCounters
from services.evaluator.processor import Output, ShardState
from services.evaluator.work import (
    EventWork,
    RawDone,
    RuleWork,
    TickWork,
    TriggerWork,
    WorkError,
    decode,
    decode_message,
    fresh,
    item_id,
    steps,
)
from tests.evaluator.kit import at, change, make_rule

ERRORS = {"trigger_type": "event", "trigger_spec": {"event_type": "error", "group_by": ["service"]}}


def occurrence(n: int, tenant: str = "acme") -> Event:
    return Event(f"e{n}", tenant, at(n), {"service": "api"}, "error")


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"[1, 2]",
        b'{"kind": "nope"}',
        b'{"kind": "event", "event": {"bad": 1}}',
        b'{"kind": "tick", "now": "yesterday"}',
        codec.dumps({"kind": "rule", "change": {**change(make_rule(ERRORS, "r")).as_dict(), "rule": {"name": "x"}}}),
    ],
)
def test_malformed_work_is_a_work_error(data: bytes) -> None:
    with pytest.raises(WorkError):
        decode(7, data)


def test_every_work_kind_decodes_with_its_sequence() -> None:
    rule = make_rule(ERRORS, "r")
    assert decode(1, work_event(occurrence(1))) == EventWork(1, occurrence(1))
    assert decode(2, work_rule(change(rule))) == RuleWork(2, change(rule), rule)
    assert decode(3, work_rule(change(rule, "delete"))) == RuleWork(3, change(rule, "delete"), None)
    assert decode(4, work_tick(at(9))) == TickWork(4, at(9))
    assert decode(5, work_trigger(occurrence(2), "r", "reply.x")) == TriggerWork(5, occurrence(2), "r", "reply.x")


def test_a_batch_of_events_decodes_item_by_item_and_one_bad_item_spares_the_others() -> None:
    good = [work_item(10, 0, occurrence(1)), work_item(10, 1, occurrence(2))]
    bad = codec.dumps({"seq": 11, "index": 0, "event": {"bad": 1}})
    items, broken = decode_message(7, work_events([good[0], bad, good[1]]))
    assert items == [EventWork(7, occurrence(1), 0, (10, 0)), EventWork(7, occurrence(2), 2, (10, 1))]
    assert list(broken) == [1] and "malformed work item" in broken[1]
    assert [item_id(item) for item in items] == [(7, 0), (7, 2)]
    with pytest.raises(WorkError):
        decode_message(7, b'{"kind": "events", "events": 3}')
    with pytest.raises(WorkError):
        decode(7, work_events(good))  # two items: not a one-item message


def test_the_single_event_work_of_earlier_versions_still_decodes() -> None:
    old = codec.dumps({"kind": "event", "event": event_to_dict(occurrence(1))})
    assert decode_message(3, old) == ([EventWork(3, occurrence(1))], {})
    rule = make_rule(ERRORS, "r")
    old_rule = codec.dumps({"kind": "rule", "change": change(rule).as_dict()})  # without its raw position
    assert decode_message(4, old_rule) == ([RuleWork(4, change(rule), rule)], {})


def test_a_raw_batch_decodes_into_the_events_of_its_picks_and_a_bad_pick_spares_the_others() -> None:
    stamp = "2024-05-01T12:00:00Z"
    array = codec.dumps([{"service": "api", "event_type": "error"}, 5, {"service": "db", "event_type": "error"}])
    rows = [
        RawRow(10, "cep.ingest.acme", stamp, None, "acme/p1", array, (0, 1, 2)),  # item 1 is not an event: 2 exist
        RawRow(11, "cep.internal.acme", stamp, None, None, codec.dumps({"event_type": "cep.x"}), (0,)),
        RawRow(12, "cep.other.acme", stamp, None, None, b"{}", (0,)),  # not an event subject
    ]
    items, bad = decode_message(7, encode_raw_batch(rows))

    def arrived(event_id: str, payload: dict[str, Any]) -> Event:
        return Event(event_id, "acme", at(0), payload, payload["event_type"], at(0))

    assert items == [
        EventWork(7, arrived("p1.0", {"service": "api", "event_type": "error"}), 0, (10, 0)),
        EventWork(7, arrived("p1.2", {"service": "db", "event_type": "error"}), 1, (10, 1)),
        EventWork(7, arrived("11", {"event_type": "cep.x"}), 3, (11, 0)),  # `cep.*` allowed on the internal subject
    ]
    assert sorted(bad) == [2, 4] and "holds 2 event(s)" in bad[2] and "not an event subject" in bad[4]
    with pytest.raises(WorkError, match=r"rows\.1\.size"):
        decode_message(7, encode_raw_batch(rows)[:-3])  # the bytes end before the sizes say


def test_a_shard_evaluates_only_the_series_it_owns_and_refuses_a_trigger_for_another() -> None:
    rule = make_rule(ERRORS, "r")
    placement = Placement(2)
    owner = placement.series_shard(rule, "service=api")
    mine, other = (ShardState.from_rules([rule], owns=placement.owner(n)) for n in (owner, 1 - owner))
    out_mine, out_other = Output(), Output()
    mine.run([EventWork(1, occurrence(1))], out_mine)
    other.run([EventWork(1, occurrence(1))], out_other)
    assert [t.kind for t, _ in out_mine.alerts] == ["fired"] and not out_other.alerts
    other.run([TriggerWork(2, occurrence(2), "r", "reply.x")], out_other)
    answer = codec.loads(out_other.replies[0][1])
    assert answer["error"]["kind"] == "failed" and "held by another shard" in answer["error"]["detail"]
    assert not out_other.alerts and other.snapshot()[1]["rules"] == {}


def test_fresh_leaves_out_what_a_router_replay_sent_again() -> None:
    rule = make_rule(ERRORS, "r")
    first = [EventWork(1, occurrence(n), n, (5, n)) for n in range(3)]
    replay = [RuleWork(2, change(rule), rule, (4, 0))] + [EventWork(3, occurrence(n), n, (5, n)) for n in range(5)]
    ticks_and_old = [TickWork(4, at(1)), EventWork(5, occurrence(9))]
    items, done = fresh([*first, *replay, *ticks_and_old], RawDone((4, 0)))
    assert [item_id(item) for item in items] == [(1, 0), (1, 1), (1, 2), (3, 3), (3, 4), (4, 0), (5, 0)]
    assert done == RawDone((4, 0), {"acme": (5, 4)})
    assert fresh(first, RawDone((5, 2))) == ([], RawDone((5, 2)))


def test_fresh_keeps_each_tenants_position_so_partitions_may_interleave() -> None:
    """Two routers (partitions) feed one shard: their work interleaves, each tenant's positions only grow."""
    acme = [EventWork(1, occurrence(n, "acme"), n, (10 + n, 0)) for n in range(3)]  # raw 10, 11, 12
    beta = [EventWork(2, occurrence(n, "beta"), n, (3 + n, 0)) for n in range(2)]  # raw 3, 4: earlier, later here
    before = RawDone()
    items, done = fresh([*acme, *beta], before)
    assert len(items) == 5 and done == RawDone(tenants={"acme": (12, 0), "beta": (4, 0)})
    assert before == RawDone()  # not changed in place: a snapshot being written may hold it
    replayed = [EventWork(3, occurrence(9, "beta"), 0, (4, 0)), EventWork(3, occurrence(10, "beta"), 1, (13, 0))]
    items, done = fresh(replayed, done)
    assert [item_id(item) for item in items] == [(3, 1)] and done.of("beta") == (13, 0) == RawDone.decode(
        done.encode()
    ).of("beta")


def test_steps_group_consecutive_events_up_to_the_chunk_and_go_one_by_one_when_careful() -> None:
    items: list[Any] = [EventWork(s, occurrence(s)) for s in (1, 2, 3)] + [TickWork(4, at(4))]
    items += [EventWork(s, occurrence(s)) for s in (5, 6)]
    assert [[i.seq for i in step] for step in steps(items, 2)] == [[1, 2], [3], [4], [5, 6]]
    assert [[i.seq for i in step] for step in steps(items, 100, careful_through=2)] == [[1], [2], [3], [4], [5, 6]]


def test_an_older_rule_change_replayed_after_a_newer_one_is_ignored() -> None:
    v1, v2 = make_rule(ERRORS, "r"), make_rule({**ERRORS, "action_spec": [{"type": "webhook"}]}, "r", version=2)
    state, out = ShardState.from_rules([v2]), Output()
    state.run([RuleWork(1, change(v1), v1)], out)
    state.run([EventWork(2, occurrence(2))], out)
    assert [(t.rule_version, actions) for t, actions in out.alerts] == [(2, [{"type": "webhook"}])]


def test_a_trigger_for_a_rule_the_shard_does_not_hold_gets_an_error_answer() -> None:
    state, out = ShardState.from_rules([make_rule(ERRORS, "r")]), Output()
    state.run([TriggerWork(1, occurrence(1), "missing", "reply.a")], out)
    state.run([TriggerWork(2, occurrence(2, tenant="other"), "r", "reply.b")], out)  # another tenant's rule
    answers = [codec.loads(body) for _, body in out.replies]
    assert [a["error"]["kind"] for a in answers] == ["unknown_rule", "unknown_rule"] and not out.alerts
    state.run([TriggerWork(3, occurrence(3), "r", "reply.c")], out)
    answer = codec.loads(out.replies[-1][1])
    assert (answer["matched"], answer["state"], "error" in answer) == (True, "firing", False)
    assert answer["event_id"] == out.alerts[0][0].event_id


def status(shard: int, incarnation: str, batches: int, fired: int, pending: int = 0) -> dict[str, Any]:
    counters = ShardCounters()
    for _ in range(batches):
        counters.observe_batch(0.003, 10, ["fired"] * fired)
        counters.child_done("ok", 0.25, 4096)
    return {"shard": shard, "incarnation": incarnation, "counters": counters.as_dict(), "pending": pending}


def test_metric_totals_never_go_down_when_an_actor_restarts() -> None:
    collector = ShardCollector()
    registry = CollectorRegistry()
    registry.register(collector)
    collector.update([status(0, "a", 3, 2), status(1, "b", 1, 1, pending=5)])
    collector.update([status(0, "c", 1, 1), {"shard": 1, "alive": False}])  # shard 0 restarted, shard 1 silent
    total = collector.totals()
    assert (total.batches, total.events, total.transitions) == (5, 50, {"fired": 3 * 2 + 1 + 1})
    text = generate_latest(registry).decode()
    assert 'cep_transitions_total{kind="fired"} 8.0' in text
    assert (
        'cep_eval_batch_seconds_bucket{le="0.005"} 5.0' in text
        and 'cep_eval_batch_seconds_bucket{le="0.0025"} 0.0' in text
    )
    assert 'cep_consumer_pending{consumer="shard-1",stream="CEP_WORK"} 5.0' in text
    assert 'cep_eval_snapshot_children_total{outcome="ok"} 5.0' in text
    assert "cep_eval_snapshot_child_cpu_seconds_total 1.25" in text
    assert "cep_eval_snapshot_child_faulted_bytes_total 20480.0" in text


def test_the_state_keeps_the_latest_tick_it_applied() -> None:
    """The clock the shard reports (the gateway's catch-up horizon waits for it); a late tick never moves it back."""
    state, out = ShardState.from_rules([make_rule(ERRORS, "r")]), Output()
    assert state.clock is None
    state.run([TickWork(1, at(60))], out)
    state.run([EventWork(2, occurrence(2))], out)
    assert state.clock == at(60)
    state.run([TickWork(3, at(30))], out)
    assert state.clock == at(60)
    state.run([TickWork(4, at(61))], out)
    assert state.clock == at(61)
