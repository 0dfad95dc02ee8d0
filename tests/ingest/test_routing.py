"""One raw-stream message to work messages: candidates only, owning shards, deterministic ids, refusals."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from services.common.domain.evaluation.sharding import shard_for
from services.common.domain.events.intake import RESERVED_ERROR
from services.common.domain.events.model import format_time
from services.common.messages import codec
from services.common.messages.work import RuleChange
from services.common.nats import subjects
from services.ingest.routing import Inbound, route
from services.ingest.rule_table import RuleTable
from services.ingest.work_batches import WorkBatches
from tests.common.domain.kit import T0, make_rule, metric

SHARDS = 4
STORED = datetime(2024, 5, 1, 13, 0, tzinfo=UTC)
LIMIT = 1 << 20


def rule_ids_on_distinct_shards() -> list[str]:
    """Rule ids owning shards 0..3, one each (the hash is stable, so this is too)."""
    found: dict[int, str] = {}
    n = 0
    while len(found) < SHARDS:
        found.setdefault(shard_for(f"rule-{n}", SHARDS), f"rule-{n}")
        n += 1
    return [found[s] for s in range(SHARDS)]


R0, R1, R2, R3 = rule_ids_on_distinct_shards()


@pytest.fixture
def table() -> RuleTable:
    """acme: R0 on cpu, R1 on cpu and R2 on event type deploy; other: R3 on cpu."""
    table = RuleTable()
    table.upsert(make_rule(metric("cpu"), R0, tenant="acme"))
    table.upsert(make_rule(metric("cpu", threshold=10), R1, tenant="acme"))
    table.upsert(make_rule({"trigger_type": "event", "trigger_spec": {"event_type": "deploy"}}, R2, tenant="acme"))
    table.upsert(make_rule(metric("cpu"), R3, tenant="other"))
    return table


def inbound(
    data: Any, subject: str = "cep.ingest.acme", seq: int = 7, headers: dict[str, str] | None = None
) -> Inbound:
    body = data if isinstance(data, bytes) else orjson.dumps(data)
    return Inbound(subject, body, headers or {}, seq, STORED)


def sent(message: Inbound, table: RuleTable) -> list[tuple[str, str, dict[str, Any]]]:
    """The work messages of one raw message, batched per shard as the router does."""
    routed, batches = route(message, table, SHARDS, LIMIT), WorkBatches(LIMIT)
    for event in routed.batched:
        batches.add(event)
    for other in routed.outgoing:
        batches.add_message(other)
    return [(o.subject, o.msg_id, orjson.loads(o.payload)) for wave in batches.close() for o in wave]


def event_ids(work: dict[str, Any]) -> list[str]:
    return [item["event"]["event_id"] for item in work["events"]]


def test_an_event_goes_to_the_shards_of_its_candidate_rules_only(table: RuleTable) -> None:
    out = sent(inbound({"cpu": 91}, headers={subjects.MSG_ID: "e1"}), table)
    assert [(s, i) for s, i, _ in out] == [("cep.work.0", "events:7.0-7.0:0"), ("cep.work.1", "events:7.0-7.0:1")]
    work = out[0][2]
    assert work["kind"] == "events" and out[1][2] == work
    [item] = work["events"]
    assert (item["seq"], item["index"]) == (7, 0)
    assert item["event"]["event_id"] == "e1" and item["event"]["tenant"] == "acme"
    assert item["event"]["payload"] == {"cpu": 91}
    assert item["event"]["time"] == item["event"]["received_at"] == format_time(STORED)


@pytest.mark.parametrize(
    ("payload", "shards"),
    [
        ({"event_type": "deploy"}, ["cep.work.2"]),
        ({"memory": 1}, []),  # no candidate: no work at all
        ({"metric": "cpu", "value": 5}, ["cep.work.0", "cep.work.1"]),
    ],
)
def test_candidates(table: RuleTable, payload: dict[str, Any], shards: list[str]) -> None:
    assert [s for s, _, _ in sent(inbound(payload), table)] == shards


def test_ids_are_the_stream_sequence_when_the_producer_gives_none(table: RuleTable) -> None:
    [(_, msg_id, work)] = sent(inbound({"event_type": "deploy"}, seq=42), table)
    assert msg_id == "events:42.0-42.0:2" and event_ids(work) == ["42"]
    batch = inbound([{"event_type": "deploy"}, {"event_type": "deploy"}], seq=43)
    [(_, msg_id, work)] = sent(batch, table)
    assert msg_id == "events:43.0-43.1:2" and event_ids(work) == ["43.0", "43.1"]
    ndjson = inbound(b'{"event_type": "deploy"}\n{"event_type": "deploy"}\n', seq=44)
    assert [event_ids(w) for _, _, w in sent(ndjson, table)] == [["44.0", "44.1"]]
    with_id = inbound([{"event_type": "deploy"}, {"event_type": "deploy"}], headers={subjects.MSG_ID: "p"})
    assert [event_ids(w) for _, _, w in sent(with_id, table)] == [["p.0", "p.1"]]


@pytest.mark.parametrize(
    ("msg_id", "event_id"),
    [
        ("acme/gt-01-0001", "gt-01-0001"),  # a NATS producer's id, scoped to its tenant by the ingress
        ("gt-01-0001", "gt-01-0001"),  # an id stored before scoping, or from HTTP ingest
        ("other/gt-01-0001", "other/gt-01-0001"),  # another tenant's prefix is not ours to strip
    ],
)
def test_a_producers_id_keeps_the_id_it_chose(table: RuleTable, msg_id: str, event_id: str) -> None:
    [(_, _, work)] = sent(inbound({"event_type": "deploy"}, headers={subjects.MSG_ID: msg_id}), table)
    assert event_ids(work) == [event_id]


def test_event_time_and_arrival(table: RuleTable) -> None:
    received = "2024-05-01T12:30:00Z"
    out = sent(
        inbound({"cpu": 1, "timestamp": "2024-05-01T12:00:00Z"}, headers={subjects.RECEIVED_AT: received}), table
    )
    event = out[0][2]["events"][0]["event"]
    assert (event["time"], event["received_at"]) == (format_time(T0), received)


def test_refusals_are_dropped_and_reported(table: RuleTable) -> None:
    routed = route(inbound([{"cpu": 1}, 3, {"timestamp": "never"}, {"cpu": 2, "event_type": "cep.x"}]), table, 4, LIMIT)
    assert [e.shards for e in routed.batched] == [(0, 1)] and routed.events == 1 == routed.counted
    assert [(d.tenant, d.event_id) for d in routed.dropped] == [("acme", "7.1"), ("acme", "7.2"), ("acme", "7.3")]
    assert routed.dropped[2].error == RESERVED_ERROR
    not_json = route(inbound(b"garbage"), table, SHARDS, LIMIT)
    assert not not_json.batched and len(not_json.dropped) == 1 and not_json.dropped[0].tenant == "acme"
    bad_tenant = route(inbound({"cpu": 1}, subject="cep.ingest.ACME"), table, SHARDS, LIMIT)
    assert not bad_tenant.batched and "invalid tenant" in bad_tenant.dropped[0].error


def test_an_out_of_range_timestamp_drops_that_item_only(table: RuleTable) -> None:
    items = [{"cpu": 1, "timestamp": "9999-12-31T23:59:59-12:00"}, {"cpu": 2}, {"cpu": 3, "timestamp": 1e20}]
    routed = route(inbound(items), table, SHARDS, LIMIT)
    assert [event_ids(w) for _, _, w in sent(inbound(items), table)] == [["7.1"], ["7.1"]]
    assert [d.event_id for d in routed.dropped] == ["7.0", "7.2"]
    assert all("timestamp" in d.error for d in routed.dropped)


def test_an_out_of_range_arrival_header_falls_back_to_the_stored_time(table: RuleTable) -> None:
    message = inbound({"cpu": 1}, headers={subjects.RECEIVED_AT: "9999-12-31T23:59:59-12:00"})
    work = sent(message, table)[0][2]
    assert work["events"][0]["event"]["received_at"] == format_time(STORED)


def test_internal_events_may_use_reserved_types(table: RuleTable) -> None:
    table.upsert(make_rule({"trigger_type": "event", "trigger_spec": {"event_type": "cep.ack.sla_breached"}}, R3))
    message = inbound({"event_type": "cep.ack.sla_breached"}, subject="cep.internal.default")
    assert [s for s, _, _ in sent(message, table)] == ["cep.work.3"]
    routed = route(message, table, SHARDS, LIMIT)
    assert routed.counted == 0  # internal events are not producer input


def test_http_ingested_events_are_not_counted_twice(table: RuleTable) -> None:
    routed = route(inbound({"cpu": 1}, headers={subjects.RECEIVED_AT: "2024-05-01T12:00:00Z"}), table, SHARDS, LIMIT)
    assert routed.events == 1 and routed.counted == 0


def test_a_trigger_goes_only_to_the_owning_shard_of_its_rule(table: RuleTable) -> None:
    headers = {subjects.TRIGGER_RULE: R2, subjects.TRIGGER_REPLY: "cep.trigger.reply.x", subjects.MSG_ID: "t1"}
    out = sent(inbound({"cpu": 99}, subject="cep.internal.acme", headers=headers), table)
    assert [(s, i) for s, i, _ in out] == [("cep.work.2", "t1:2")]  # not the cpu rules' shards
    assert (
        out[0][2]["kind"] == "trigger"
        and out[0][2]["rule_id"] == R2
        and out[0][2]["reply"] == headers[subjects.TRIGGER_REPLY]
    )
    # On a producer's subject the header means nothing: the event is routed like any other.
    plain = sent(inbound({"cpu": 99}, headers=headers), table)
    assert [s for s, _, _ in plain] == ["cep.work.0", "cep.work.1"]


def test_a_rule_change_updates_the_table_and_goes_to_its_owner(table: RuleTable) -> None:
    new = make_rule(metric("memory"), R1, tenant="acme", version=2)
    change = RuleChange("upsert", "acme", R1, 2, new.canonical(), T0)
    routed = route(Inbound(subjects.CONTROL_RULES, codec.dumps(change.as_dict()), {}, 9, STORED), table, SHARDS, LIMIT)
    assert routed.ordered
    assert [(o.subject, o.msg_id) for o in routed.outgoing] == [("cep.work.1", f"rule:{R1}:2:upsert:1")]
    assert orjson.loads(routed.outgoing[0].payload) == {"kind": "rule", "change": change.as_dict(), "raw": [9, 0]}
    assert [s for s, _, _ in sent(inbound({"memory": 1}), table)] == ["cep.work.1"]
    assert [s for s, _, _ in sent(inbound({"cpu": 1}), table)] == ["cep.work.0"]
    delete = RuleChange("delete", "acme", R1, 3, None, T0)
    route(Inbound(subjects.CONTROL_RULES, codec.dumps(delete.as_dict()), {}, 10, STORED), table, SHARDS, LIMIT)
    assert sent(inbound({"memory": 1}), table) == []


def test_an_unreadable_rule_change_is_dropped(table: RuleTable) -> None:
    routed = route(Inbound(subjects.CONTROL_RULES, b'{"op": "upsert"}', {}, 9, STORED), table, SHARDS, LIMIT)
    assert not routed.outgoing and "unreadable rule change" in routed.dropped[0].error


def test_an_event_too_large_for_the_work_stream_is_dropped(table: RuleTable) -> None:
    routed = route(inbound({"cpu": 1, "blob": "x" * 2000}), table, SHARDS, 1000)
    assert not routed.batched and len(routed.dropped) == 1 and "bytes" in routed.dropped[0].error
