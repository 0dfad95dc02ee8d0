"""One raw-stream message to work messages: the shards owning its series only, raw bytes forwarded, the same events
as the shard reads them, deterministic ids, refusals, and the rule-id placement of earlier versions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from services.common.domain.evaluation.sharding import BY_RULE, SERIES, Placement, shard_for
from services.common.domain.events.intake import RESERVED_ERROR
from services.common.domain.events.model import Event, format_time
from services.common.messages import codec
from services.common.messages.raw_batches import is_raw_batch
from services.common.messages.work import RuleChange
from services.common.nats import subjects
from services.evaluator.work import EventWork, decode_message
from services.ingest.routing import Inbound, route
from services.ingest.rule_table import RuleTable
from services.ingest.work_batches import WorkBatches
from tests.common.domain.kit import T0, make_rule, metric

SHARDS = 4
SERIES_4, BY_RULE_4 = Placement(SHARDS, SERIES), Placement(SHARDS, BY_RULE)
STORED = datetime(2024, 5, 1, 13, 0, tzinfo=UTC)
LIMIT = 1 << 20
DEPLOY = {"trigger_type": "event", "trigger_spec": {"event_type": "deploy"}}


def rule_ids_on_distinct_shards() -> list[str]:
    """Rule ids owning shards 0..3 under the rule-id placement, one each (the hash is stable, so this is too)."""
    found: dict[int, str] = {}
    n = 0
    while len(found) < SHARDS:
        found.setdefault(shard_for(f"rule-{n}", SHARDS), f"rule-{n}")
        n += 1
    return [found[s] for s in range(SHARDS)]


R0, R1, R2, R3 = rule_ids_on_distinct_shards()
BY_HOST = make_rule(metric("cpu", group_by=["host"]), "any", tenant="acme")  # any acme rule grouped by host


def host_on(shard: int) -> str:
    """A host whose acme series (of every rule grouped by host) live on `shard` under series placement."""
    return next(f"h{n}" for n in range(1000) if SERIES_4.series_shard(BY_HOST, f"host=h{n}") == shard)


@pytest.fixture
def table() -> RuleTable:
    """acme: R0 and R1 on cpu by host, R2 on event type deploy (ungrouped); other: R3 on cpu by host."""
    table = RuleTable()
    table.upsert(make_rule(metric("cpu", group_by=["host"]), R0, tenant="acme"))
    table.upsert(make_rule(metric("cpu", threshold=10, group_by=["host"]), R1, tenant="acme"))
    table.upsert(make_rule(DEPLOY, R2, tenant="acme"))
    table.upsert(make_rule(metric("cpu", group_by=["host"]), R3, tenant="other"))
    return table


def inbound(
    data: Any, subject: str = "cep.ingest.acme", seq: int = 7, headers: dict[str, str] | None = None
) -> Inbound:
    body = data if isinstance(data, bytes) else orjson.dumps(data)
    return Inbound(subject, body, headers or {}, seq, STORED)


def sent(message: Inbound, table: RuleTable, placement: Placement = SERIES_4, limit: int = LIMIT) -> list[Any]:
    """(subject, msg id, body) of the work messages of one raw message, batched per shard as the router does."""
    routed, batches = route(message, table, placement, limit), WorkBatches(limit, placement.shards)
    for entry in routed.batched:
        batches.add(entry)
    for other in routed.outgoing:
        batches.add_message(other)
    return [(o.subject, o.msg_id, o.payload) for wave in batches.close() for o in wave]


def read(body: bytes) -> list[tuple[tuple[int, int], Event]]:
    """The events a shard reads from a work message: (raw position, event)."""
    items, bad = decode_message(1, body)
    assert not bad
    return [(item.raw or (0, 0), item.event) for item in items if isinstance(item, EventWork)]


def event_ids(body: bytes) -> list[str]:
    return [event.event_id for _, event in read(body)]


def test_an_event_goes_once_to_the_shard_of_its_series_as_stored() -> None:
    table = RuleTable()
    table.upsert(make_rule(metric("cpu", group_by=["host"]), R0, tenant="acme"))
    table.upsert(make_rule(metric("cpu", threshold=10, group_by=["host"]), R1, tenant="acme"))
    host = host_on(2)
    data = orjson.dumps({"cpu": 91, "host": host})
    [(subject, msg_id, body)] = sent(inbound(data, headers={subjects.MSG_ID: "e1"}), table)
    assert (subject, msg_id) == ("cep.work.2", "raw:7.0-7.0:2/4")  # both rules' series live there
    assert is_raw_batch(body) and body.endswith(data)  # forwarded as stored, not encoded again
    [(raw, event)] = read(body)
    assert raw == (7, 0) and event == Event("e1", "acme", STORED, {"cpu": 91, "host": host}, None, STORED)


def test_the_same_event_under_the_earlier_placement_is_a_json_item_for_each_rules_shard(table: RuleTable) -> None:
    message = inbound({"cpu": 91, "host": "h1"}, headers={subjects.MSG_ID: "e1"})
    out = sent(message, table, BY_RULE_4)
    assert [(s, i) for s, i, _ in out] == [("cep.work.0", "events:7.0-7.0:0"), ("cep.work.1", "events:7.0-7.0:1")]
    body = orjson.loads(out[0][2])
    assert body["kind"] == "events" and body["events"][0]["event"]["event_id"] == "e1"
    [(_, _, raw)] = sent(message, table)
    assert read(out[0][2]) == read(out[1][2]) == read(raw)  # the shards of both read the very same event


def test_a_batch_of_hosts_is_split_by_the_shards_owning_their_series(table: RuleTable) -> None:
    hosts = [host_on(shard) for shard in (0, 1, 3, 1)]
    out = sent(inbound([{"cpu": 1, "host": host} for host in hosts]), table)
    assert {subject: [raw for raw, _ in read(body)] for subject, _, body in out} == {
        "cep.work.0": [(7, 0)],
        "cep.work.1": [(7, 1), (7, 3)],
        "cep.work.3": [(7, 2)],
    }


def test_rules_grouped_otherwise_or_ungrouped_may_need_another_shard() -> None:
    table = RuleTable()
    by_host = make_rule(metric("cpu", group_by=["host"]), "by-host", tenant="acme")
    by_region = make_rule(metric("cpu", threshold=1, group_by=["region"]), "by-region", tenant="acme")
    whole = make_rule(metric("cpu", threshold=2), "whole", tenant="acme")
    for rule in (by_host, by_region, whole):
        table.upsert(rule)
    payload = {"cpu": 1, "host": "h1", "region": "eu"}
    expected = {
        SERIES_4.series_shard(by_host, "host=h1"),
        SERIES_4.series_shard(by_region, "region=eu"),
        SERIES_4.series_shard(whole, ""),
    }
    assert {subject for subject, _, _ in sent(inbound(payload), table)} == {f"cep.work.{s}" for s in expected}


@pytest.mark.parametrize(
    ("payload", "shards"),
    [
        ({"event_type": "deploy"}, {SERIES_4.series_shard(make_rule(DEPLOY, R2, tenant="acme"), "")}),
        ({"memory": 1}, set()),  # no candidate: no work at all
        ({"metric": "cpu", "value": 5, "host": "h7"}, {SERIES_4.series_shard(BY_HOST, "host=h7")}),
    ],
)
def test_candidates(table: RuleTable, payload: dict[str, Any], shards: set[int]) -> None:
    assert {subject for subject, _, _ in sent(inbound(payload), table)} == {f"cep.work.{s}" for s in shards}


@pytest.mark.parametrize("placement", [SERIES_4, BY_RULE_4], ids=["series", "rule"])
def test_ids_are_the_stream_sequence_when_the_producer_gives_none(table: RuleTable, placement: Placement) -> None:
    def ids(message: Inbound) -> list[str]:
        [(_, _, body)] = sent(message, table, placement)
        return event_ids(body)

    assert ids(inbound({"event_type": "deploy"}, seq=42)) == ["42"]
    assert ids(inbound([{"event_type": "deploy"}, {"event_type": "deploy"}], seq=43)) == ["43.0", "43.1"]
    assert ids(inbound(b'{"event_type": "deploy"}\n{"event_type": "deploy"}\n', seq=44)) == ["44.0", "44.1"]
    with_id = inbound([{"event_type": "deploy"}, {"event_type": "deploy"}], headers={subjects.MSG_ID: "p"})
    assert ids(with_id) == ["p.0", "p.1"]
    ndjson = {subjects.CONTENT_TYPE: "application/x-ndjson"}
    assert ids(inbound(b'{"event_type": "deploy"}\n{"event_type": "x"}', seq=45, headers=ndjson)) == ["45.0"]


@pytest.mark.parametrize(
    ("msg_id", "event_id"),
    [
        ("acme/gt-01-0001", "gt-01-0001"),  # a NATS producer's id, scoped to its tenant by the ingress
        ("gt-01-0001", "gt-01-0001"),  # an id stored before scoping, or from HTTP ingest
        ("other/gt-01-0001", "other/gt-01-0001"),  # another tenant's prefix is not ours to strip
    ],
)
def test_a_producers_id_keeps_the_id_it_chose(table: RuleTable, msg_id: str, event_id: str) -> None:
    [(_, _, body)] = sent(inbound({"event_type": "deploy"}, headers={subjects.MSG_ID: msg_id}), table)
    assert event_ids(body) == [event_id]


def test_event_time_and_arrival(table: RuleTable) -> None:
    received = "2024-05-01T12:30:00.250000Z"
    payload = {"cpu": 1, "host": "h1", "timestamp": "2024-05-01T12:00:00Z"}
    [(_, _, body)] = sent(inbound(payload, headers={subjects.RECEIVED_AT: received}), table)
    [(_, event)] = read(body)
    assert (format_time(event.time), event.received_at) == (format_time(T0), datetime.fromisoformat(received))


def test_refusals_are_dropped_and_reported(table: RuleTable) -> None:
    items = [{"cpu": 1, "host": "h1"}, 3, {"timestamp": "never"}, {"cpu": 2, "event_type": "cep.x"}]
    routed = route(inbound(items), table, SERIES_4, LIMIT)
    assert routed.events == 1 == routed.counted
    [(_, _, body)] = sent(inbound(items), table)
    assert [raw for raw, _ in read(body)] == [(7, 0)]  # the shard reads the same one valid event
    assert [(d.tenant, d.event_id) for d in routed.dropped] == [("acme", "7.1"), ("acme", "7.2"), ("acme", "7.3")]
    assert routed.dropped[2].error == RESERVED_ERROR
    not_json = route(inbound(b"garbage"), table, SERIES_4, LIMIT)
    assert not not_json.batched and len(not_json.dropped) == 1 and not_json.dropped[0].tenant == "acme"
    bad_tenant = route(inbound({"cpu": 1}, subject="cep.ingest.ACME"), table, SERIES_4, LIMIT)
    assert not bad_tenant.batched and "invalid tenant" in bad_tenant.dropped[0].error


def test_an_out_of_range_timestamp_drops_that_item_only(table: RuleTable) -> None:
    items = [{"cpu": 1, "timestamp": "9999-12-31T23:59:59-12:00"}, {"cpu": 2}, {"cpu": 3, "timestamp": 1e20}]
    routed = route(inbound(items), table, SERIES_4, LIMIT)
    assert [event_ids(body) for _, _, body in sent(inbound(items), table)] == [["7.1"]]
    assert [d.event_id for d in routed.dropped] == ["7.0", "7.2"]
    assert all("timestamp" in d.error for d in routed.dropped)


def test_an_out_of_range_arrival_header_falls_back_to_the_stored_time(table: RuleTable) -> None:
    message = inbound({"cpu": 1}, headers={subjects.RECEIVED_AT: "9999-12-31T23:59:59-12:00"})
    [(_, event)] = read(sent(message, table)[0][2])
    assert event.received_at == STORED


def test_internal_events_may_use_reserved_types(table: RuleTable) -> None:
    sla = make_rule({"trigger_type": "event", "trigger_spec": {"event_type": "cep.ack.sla_breached"}}, R3)
    table.upsert(sla)
    message = inbound({"event_type": "cep.ack.sla_breached"}, subject="cep.internal.default")
    [(subject, _, body)] = sent(message, table)
    assert subject == f"cep.work.{SERIES_4.series_shard(sla, '')}" and event_ids(body) == ["7"]
    assert route(message, table, SERIES_4, LIMIT).counted == 0  # internal events are not producer input


def test_http_ingested_events_are_not_counted_twice(table: RuleTable) -> None:
    message = inbound({"cpu": 1}, headers={subjects.RECEIVED_AT: "2024-05-01T12:00:00Z"})
    routed = route(message, table, SERIES_4, LIMIT)
    assert routed.events == 1 and routed.counted == 0


def test_a_trigger_goes_only_to_the_shard_of_the_series_it_touches(table: RuleTable) -> None:
    headers = {subjects.TRIGGER_RULE: R0, subjects.TRIGGER_REPLY: "cep.trigger.reply.x", subjects.MSG_ID: "t1"}
    host = host_on(3)
    out = sent(inbound({"cpu": 99, "host": host}, subject="cep.internal.acme", headers=headers), table)
    assert [(s, i) for s, i, _ in out] == [("cep.work.3", "t1:3")]
    body = orjson.loads(out[0][2])
    assert (body["kind"], body["rule_id"], body["reply"]) == ("trigger", R0, headers[subjects.TRIGGER_REPLY])
    # Under the earlier placement, the rule's shard.
    assert [s for s, _, _ in sent(inbound({"cpu": 99}, "cep.internal.acme", headers=headers), table, BY_RULE_4)] == [
        "cep.work.0"
    ]
    # An unknown rule (or another tenant's) goes to the shard of its id, which answers that it holds no such rule.
    other = {**headers, subjects.TRIGGER_RULE: R3}
    assert [s for s, _, _ in sent(inbound({"cpu": 99}, "cep.internal.acme", headers=other), table)] == [
        f"cep.work.{shard_for(R3, SHARDS)}"
    ]
    # On a producer's subject the header means nothing: the event is routed like any other.
    assert [s for s, _, _ in sent(inbound({"cpu": 99, "host": host}, headers=headers), table)] == ["cep.work.3"]


def test_a_rule_change_updates_the_table_and_reaches_every_shard_holding_the_rule(table: RuleTable) -> None:
    new = make_rule(metric("memory", group_by=["host"]), R1, tenant="acme", version=2)
    change = RuleChange("upsert", "acme", R1, 2, new.canonical(), T0)
    message = Inbound(subjects.CONTROL_RULES, codec.dumps(change.as_dict()), {}, 9, STORED)
    routed = route(message, table, SERIES_4, LIMIT)
    assert routed.ordered
    assert [(o.subject, o.msg_id) for o in routed.outgoing] == [
        (f"cep.work.{s}", f"rule:{R1}:2:upsert:{s}") for s in range(SHARDS)
    ]
    assert orjson.loads(routed.outgoing[0].payload) == {"kind": "rule", "change": change.as_dict(), "raw": [9, 0]}
    memory = SERIES_4.series_shard(new, "host=h1")
    assert [s for s, _, _ in sent(inbound({"memory": 1, "host": "h1"}), table)] == [f"cep.work.{memory}"]
    assert [(o.subject, o.msg_id) for o in route(message, table, BY_RULE_4, LIMIT).outgoing] == [
        ("cep.work.1", f"rule:{R1}:2:upsert:1")  # the earlier placement: its owner only
    ]
    delete = RuleChange("delete", "acme", R1, 3, None, T0)
    route(Inbound(subjects.CONTROL_RULES, codec.dumps(delete.as_dict()), {}, 10, STORED), table, SERIES_4, LIMIT)
    assert sent(inbound({"memory": 1}), table) == []


def test_an_unreadable_rule_change_is_dropped(table: RuleTable) -> None:
    routed = route(Inbound(subjects.CONTROL_RULES, b'{"op": "upsert"}', {}, 9, STORED), table, SERIES_4, LIMIT)
    assert not routed.outgoing and "unreadable rule change" in routed.dropped[0].error


def test_a_message_too_large_to_forward_whole_sends_its_events_alone(table: RuleTable) -> None:
    host = host_on(1)
    items = [{"cpu": 1, "host": host, "blob": "x" * 300}, {"cpu": 1, "host": host_on(2), "blob": "y" * 300}]
    out = sent(inbound(items), table, limit=700)  # the message with its head is over 700 bytes, each event is not
    assert [(s, i) for s, i, _ in out] == [("cep.work.1", "events:7.0-7.0:1"), ("cep.work.2", "events:7.1-7.1:2")]
    assert [event_ids(body) for _, _, body in out] == [["7.0"], ["7.1"]]
    routed = route(inbound({"cpu": 1, "blob": "x" * 2000}), table, SERIES_4, 1000)
    assert not routed.batched and len(routed.dropped) == 1 and "bytes" in routed.dropped[0].error
