"""Every message kind round-trips through its codec, keeps its wire shape, and fails with a reason naming the field."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.common.domain.events.model import Event
from services.common.domain.lifecycle.transitions import Transition
from services.common.messages import codec
from services.common.messages.alerts import AckNotice, Action, Alert, action_dict, actions_of, alert, channel_actions
from services.common.messages.channels import ChannelEntry
from services.common.messages.codec import MessageError, decode
from services.common.messages.delivery import (
    DeliveryJob,
    DeliveryResult,
    DigestJob,
    GroupJob,
    dead_letter,
    delivery_job_from,
)
from services.common.messages.feed import FeedMessage, feed
from services.common.messages.raw_batches import (
    RAW_BATCH_MARK,
    RAW_BATCH_OVERHEAD,
    RawRow,
    decode_raw_batch,
    encode_raw_batch,
    row_cost,
)
from services.common.messages.schedule import RunRecord
from services.common.messages.work import (
    WORK_EVENTS_OVERHEAD,
    EventMessage,
    EventsMessage,
    RuleChange,
    RuleMessage,
    TickMessage,
    TriggerMessage,
    TriggerReply,
    decode_work,
    read_work_item,
    trigger_reply,
    work_event,
    work_events,
    work_item,
    work_rule,
    work_tick,
    work_trigger,
)

T0 = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
EVENT = Event("e1", "acme", T0, {"cpu": 91.5, "host": "gt-01"}, "metric", T0)
ACTION = Action(type="webhook", channel="ops-hook", message="cpu {{ payload.cpu }}")


def transition(**fields: Any) -> Transition:
    values: dict[str, Any] = {
        "transition_id": "tr-1",
        "kind": "fired",
        "tenant": "acme",
        "rule_id": "r1",
        "rule_version": 2,
        "rule_name": "cpu",
        "severity": "high",
        "trigger_type": "metric",
        "event_id": "ev-1",
        "fingerprint": "fp",
        "group_key": "host=gt-01",
        "at": T0,
        "started_at": T0,
        "count": 1,
        "last_seen": T0,
        "payload": {"cpu": 91.5},
        "value": 91.5,
        "explanation": [{"field": "cpu"}],
        "summary": "cpu > 90",
        "source_event_id": "e1",
        "reason": "condition held",
        **fields,
    }
    return Transition(**values)


def reason_of(model: Any, data: Any) -> str:
    with pytest.raises(MessageError) as caught:
        decode(model, data)
    return caught.value.reason


# -- the codec ---------------------------------------------------------------------------------------------
def test_decode_names_the_field_and_counts_the_others() -> None:
    assert reason_of(RuleChange, b"{nope").startswith("not JSON")
    reason = reason_of(RuleChange, {"op": "upsert", "tenant": 7, "rule_id": "r", "version": "x", "rule": None})
    assert reason.startswith("tenant: ") and "more" in reason
    assert reason_of(RuleChange, {"op": "x", "tenant": "t", "rule_id": "r", "version": 1, "rule": None, "at": "z"})
    assert "at: invalid timestamp" in reason_of(
        RuleChange, {"op": "upsert", "tenant": "t", "rule_id": "r", "version": 1, "rule": None, "at": "soon"}
    )


# -- work messages -----------------------------------------------------------------------------------------
def test_rule_change_round_trip_and_msg_id() -> None:
    change = RuleChange("upsert", "acme", "r1", 3, {"name": "cpu"}, T0)
    assert RuleChange.decode(codec.dumps(change.as_dict())) == change
    assert change.msg_id() == "rule:r1:3:upsert"
    message = decode_work(work_rule(change, (41, 0)))
    assert isinstance(message, RuleMessage) and message.change == change and message.raw == (41, 0)
    assert isinstance(decode_work(work_rule(change)), RuleMessage)


def test_every_work_kind_decodes_including_the_legacy_single_event() -> None:
    legacy = decode_work(work_event(EVENT))
    assert isinstance(legacy, EventMessage) and legacy.event == EVENT
    assert work_event(EVENT).startswith(b'{"kind":"event","event":{"event_id":"e1"')
    tick = decode_work(work_tick(T0))
    assert isinstance(tick, TickMessage) and tick.now == T0
    trigger = decode_work(work_trigger(EVENT, "r1", "cep.trigger.reply.x"))
    assert isinstance(trigger, TriggerMessage) and (trigger.event, trigger.rule_id) == (EVENT, "r1")
    items = [work_item(10, 0, EVENT), work_item(10, 1, EVENT)]
    data = work_events(items)
    assert len(data) == WORK_EVENTS_OVERHEAD + sum(map(len, items)) + 1
    batch = decode_work(data)
    assert isinstance(batch, EventsMessage)
    assert [(i.seq, i.index, i.event) for i in map(read_work_item, batch.events)] == [(10, 0, EVENT), (10, 1, EVENT)]


def test_malformed_work_names_the_field() -> None:
    with pytest.raises(MessageError, match="kind"):
        decode_work(b'{"kind": "party"}')
    with pytest.raises(MessageError, match=r"^now: "):
        decode_work(b'{"kind": "tick", "now": 12}')
    with pytest.raises(MessageError, match=r"^event\.time: invalid timestamp"):
        decode_work(codec.dumps({"kind": "event", "event": {**_event_json(), "time": "yesterday"}}))
    with pytest.raises(MessageError, match=r"^seq: expected an integer"):
        read_work_item({"seq": "1", "index": 0, "event": _event_json()})
    with pytest.raises(MessageError, match=r"^event\.tenant: expected a string"):
        read_work_item({"seq": 1, "index": 0, "event": {**_event_json(), "tenant": 5}})
    with pytest.raises(MessageError, match=r"^event\.payload: field required"):
        read_work_item({"seq": 1, "index": 0, "event": {k: v for k, v in _event_json().items() if k != "payload"}})


def _event_json() -> dict[str, Any]:
    return dict(codec.loads(work_item(1, 0, EVENT))["event"])


def test_trigger_reply_round_trip() -> None:
    plain = TriggerReply.decode(trigger_reply(True, "ev-1", "fired", [{"f": 1}], []))
    assert (plain.matched, plain.event_id, plain.error) == (True, "ev-1", None)
    failed = TriggerReply.decode(trigger_reply(False, None, "no_match", [], [], error=("unknown_rule", "r9")))
    assert failed.error is not None and (failed.error.kind, failed.error.detail) == ("unknown_rule", "r9")


# -- alerts ------------------------------------------------------------------------------------------------
def test_alert_round_trip_with_typed_actions() -> None:
    data = alert(transition(), [action_dict(ACTION), {"type": "api_call"}])
    decoded = Alert.decode(data)
    assert decoded.transition == transition()
    assert [(a.type, a.channel) for a in decoded.actions] == [("webhook", "ops-hook"), ("api_call", None)]
    assert Alert.decode(decoded.encode()) == decoded
    assert codec.loads(data)["transition_id"] == "tr-1"  # flat on the wire: the transition's fields, then actions
    assert [i for i, _, _ in channel_actions(decoded.actions)] == [0]


def test_malformed_alerts_name_the_field() -> None:
    body = codec.loads(alert(transition(), [action_dict(ACTION)]))
    with pytest.raises(MessageError, match=r"rule_version"):
        Alert.decode({**body, "rule_version": "two"})
    with pytest.raises(MessageError, match=r"last_seen: invalid timestamp"):
        Alert.decode({**body, "last_seen": "later"})
    with pytest.raises(MessageError, match=r"actions\.0\.type"):
        Alert.decode({**body, "actions": [{"channel": "ops-hook"}]})
    with pytest.raises(MessageError, match=r"transition\.summary"):
        Alert.decode({k: v for k, v in body.items() if k != "summary"})


def test_actions_of_a_rule_keep_their_extra_fields() -> None:
    actions = actions_of({"action_spec": [{"type": "daily_report", "channel": "ops", "window": "12h"}]})
    assert action_dict(actions[0]) == {"type": "daily_report", "channel": "ops", "window": "12h"}
    assert actions_of(None) == []


def test_ack_notice() -> None:
    event = {"event_id": "ev-1", "tenant": "acme", "rule_id": "r1", "fired_at": "2025-05-01T12:00:00Z", "x": 1}
    notice = AckNotice.decode(feed("acked", event))
    assert notice.event.fired_at == T0 and notice.event.field("x") == 1 and notice.event.acked_at is None
    with pytest.raises(MessageError, match=r"event\.fired_at"):
        AckNotice.decode(feed("acked", {**event, "fired_at": None}))


# -- deliveries --------------------------------------------------------------------------------------------
def test_delivery_job_round_trip() -> None:
    job = DeliveryJob(transition(), ACTION, 2)
    assert delivery_job_from(job.encode()) == job
    assert job.msg_id() == "tr-1:2"
    assert list(codec.loads(job.encode())) == ["transition", "action", "index"]
    with pytest.raises(MessageError, match=r"^index: "):
        delivery_job_from(codec.dumps({**codec.loads(job.encode()), "index": "first"}))
    with pytest.raises(MessageError, match=r"^action: "):
        delivery_job_from(codec.dumps({k: v for k, v in codec.loads(job.encode()).items() if k != "action"}))


def test_digest_and_group_jobs_round_trip_with_job_as_their_kind() -> None:
    timer = DigestJob("digest-timer", "acme", "r1", "cpu", 60.0, 120.0)
    digest = DigestJob("digest", "acme", "r1", "cpu", 60.0, 120.0, index=1, action=ACTION, text="3", window={"n": 3})
    group = GroupJob("group", "acme", "r1", "g1", "host=a", 5.0, 2, 0, ACTION, [{"a": 1}], 1, True)
    repeat = GroupJob("repeat-timer", "acme", "r1", "g1", "host=a", 5.0, 2)
    for job in (timer, digest, group, repeat):
        assert delivery_job_from(job.encode()) == job
    assert codec.loads(timer.encode()) == {
        "job": "digest-timer",
        "tenant": "acme",
        "rule_id": "r1",
        "rule_name": "cpu",
        "start": 60.0,
        "due": 120.0,
        "index": -1,
        "action": None,
        "text": "",
        "window": None,
    }
    assert (timer.msg_id(), digest.msg_id()) == ("digest:acme:r1:60.000", "digest:acme:r1:60.000:1")
    assert (group.msg_id(), repeat.msg_id()) == ("group:acme:r1:g1:2:0", "group:acme:r1:g1:2:repeat-timer")
    with pytest.raises(MessageError, match=r"^due: "):
        delivery_job_from(codec.dumps({**codec.loads(timer.encode()), "due": "soon"}))


def test_delivery_result_round_trip() -> None:
    result = DeliveryResult("acme", "ev-1", "tr-1", 0, "ops-hook", "c1", "webhook", "sent", 1, T0, latency_ms=3.5)
    assert DeliveryResult.decode(result.encode()) == result
    assert result.msg_id() == "tr-1:0:1:sent"
    with pytest.raises(MessageError, match=r"^status: "):
        DeliveryResult.decode({**result.as_dict(), "status": "lost"})
    with pytest.raises(MessageError, match=r"^attempt: "):
        DeliveryResult.decode({k: v for k, v in result.as_dict().items() if k != "attempt"})


def test_dead_letter_keeps_the_job_as_queued() -> None:
    job = DeliveryJob(transition(), ACTION, 0)
    body = codec.loads(dead_letter(job.encode(), {"status": "failed"}))
    assert body == {"job": codec.loads(job.encode()), "result": {"status": "failed"}}


# -- feed, channels, schedule ------------------------------------------------------------------------------
def test_feed_message_round_trip() -> None:
    event = {"event_id": "ev-1", "tenant": "acme", "rule_id": "r1", "status": "open"}
    message = FeedMessage.decode(feed("fired", event))
    assert message.type == "fired" and message.event_json() == event
    with pytest.raises(MessageError, match=r"^type: "):
        FeedMessage.decode(feed("exploded", event))  # type: ignore[arg-type]
    with pytest.raises(MessageError, match=r"^event\.event_id: "):
        FeedMessage.decode(codec.dumps({"type": "fired", "event": {"tenant": "acme"}}))


def test_channel_entry_round_trip_hides_secrets_in_repr() -> None:
    entry = ChannelEntry("acme", "c1", "ops-hook", "webhook", {"url": "http://h/", "auth_token": "s3cret"}, 4)
    assert ChannelEntry.decode(entry.encode()) == entry
    assert "s3cret" not in repr(entry)
    with pytest.raises(MessageError, match=r"^version: "):
        ChannelEntry.decode({**codec.loads(entry.encode()), "version": None})


def test_run_record_round_trip() -> None:
    record = RunRecord("acme", "r1", 2, T0, "fired", "sched-a", 7, T0, 12.5)
    assert RunRecord.decode(record.encode()) == record
    missed = RunRecord("acme", "r1", 2, T0, "missed", "sched-a", 7)
    assert RunRecord.decode(missed.encode()) == missed
    assert record.msg_id() == "run:acme:r1:2025-05-01T12:00:00Z:7"
    assert record.event_msg_id() == "sched:r1:2025-05-01T12:00:00Z:7"
    with pytest.raises(MessageError, match=r"^status: "):
        RunRecord.decode({**record.as_dict(), "status": "late"})


# -- raw batches -------------------------------------------------------------------------------------------
def test_a_raw_batch_keeps_the_bytes_as_stored_and_shares_its_tables() -> None:
    rows = [
        RawRow(seq, "cep.ingest.acme", "2024-05-01T12:00:00Z", None, f"id-{seq}", b'{"cpu": %d}' % seq, (0,))
        for seq in (1, 2)
    ] + [RawRow(3, "cep.internal.acme", "2024-05-01T12:00:01Z", "application/x-ndjson", None, b"{}\n{}", (0, 1))]
    data = encode_raw_batch(rows)
    assert decode_raw_batch(data) == rows and data.endswith(b'{"cpu": 1}{"cpu": 2}{}\n{}')
    head = codec.loads(data[len(RAW_BATCH_MARK) : data.index(b"\n", len(RAW_BATCH_MARK))])
    assert head["subjects"] == ["cep.ingest.acme", "cep.internal.acme"] and len(head["stamps"]) == 2
    assert len(data) <= RAW_BATCH_OVERHEAD + sum(row_cost(row) for row in rows)
    with pytest.raises(MessageError, match="not a raw batch"):
        decode_raw_batch(b'{"kind": "tick"}')  # the JSON work messages of earlier versions are told apart


def head_with(rows: str, after: str = "") -> str:
    return '{"subjects": ["s"], "stamps": ["t"], "types": [], "rows": ' + rows + "}\n" + after


@pytest.mark.parametrize(
    ("head", "field"),
    [
        ("no newline", "head: no end of line"),
        ("[1]\n", "head: expected an object"),
        ('{"subjects": [], "stamps": [], "types": []}\n', "rows: expected a list"),
        (head_with("[[1, 0, 0, null, null, 2]]"), "rows.0.expected a list of 7"),
        (head_with("[[1, 1, 0, null, null, 0, []]]"), "rows.0.subject"),
        (head_with("[[1, 0, 0, null, 5, 0, []]]"), "rows.0.msg_id"),
        (head_with("[[1, 0, 0, null, null, 0, [-1]]]"), "rows.0.picks"),
        (head_with("[]", "left over"), "rows: the sizes cover"),
    ],
)
def test_a_malformed_raw_batch_names_the_field(head: str, field: str) -> None:
    with pytest.raises(MessageError) as error:
        decode_raw_batch(RAW_BATCH_MARK + head.encode())
    assert error.value.reason.startswith(field)
