"""What one message of the raw stream becomes on the shard work stream: the router's decisions, without I/O.

Where an event goes is the placement's answer (services/common/domain/evaluation/sharding.py): under the
`series` scheme, the shards owning a series the event touches, and the message travels as stored, in a raw batch
naming the events each shard takes (`RoutedRaw`); under the `rule` scheme of earlier versions, each event is
encoded as a JSON work item for the shards of its candidate rules (`RoutedEvent`), which the evaluators of those
versions read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from services.common.domain.evaluation.sharding import SERIES, Placement
from services.common.domain.events.model import Event, format_time, parse_time
from services.common.domain.events.raw_messages import RawMessage, read_events
from services.common.domain.rules.model import Rule
from services.common.messages.raw_batches import RAW_BATCH_OVERHEAD, RawRow, picks_cost, shared_cost
from services.common.messages.work import WORK_EVENTS_OVERHEAD, RuleChange, work_item, work_rule, work_trigger
from services.common.nats import subjects
from services.common.nats.publishing import Outgoing
from services.ingest.rule_table import RuleTable


@dataclass(frozen=True)
class Inbound:
    """A message of the raw stream as the router needs it: subject, body, headers, sequence, stored time."""

    subject: str
    data: bytes
    headers: Mapping[str, str]
    sequence: int
    stored_at: datetime
    traceparent: str | None = None  # the message's trace context, read only while tracing (kept per row)


@dataclass(frozen=True)
class Dropped:
    """An item the router refused (it reaches no shard): the tenant and event id when known, and why."""

    tenant: str | None
    event_id: str | None
    error: str


@dataclass(frozen=True)
class RoutedEvent:
    """An event for the shards that need it: its raw position (sequence, index) and its encoded JSON work item."""

    seq: int
    index: int
    item: bytes
    shards: tuple[int, ...]


@dataclass(frozen=True)
class RoutedRaw:
    """A raw message as stored, for each shard that needs some of its events: the row naming them and its cost
    (`row_cost`: at most the bytes it adds to that shard's raw batch)."""

    seq: int
    rows: dict[int, tuple[RawRow, int]]


@dataclass
class Routed:
    """The work of one inbound message: events to batch per shard (`batched`) and whole work messages
    (`outgoing`: triggers, a rule change); `ordered` ones (rule changes) must not overtake or be overtaken."""

    outgoing: list[Outgoing] = field(default_factory=list)
    batched: list[RoutedEvent | RoutedRaw] = field(default_factory=list)
    ordered: bool = False
    events: int = 0  # valid events decoded (routed or not)
    counted: int = 0  # of those, the ones counted as accepted here (not already counted by the HTTP route)
    dropped: list[Dropped] = field(default_factory=list)


def route(message: Inbound, table: RuleTable, placement: Placement, max_bytes: int) -> Routed:
    """Route one message: a rule change updates the table and goes to the shards holding the rule; events to the
    shards owning a series they touch."""
    if message.subject == subjects.CONTROL_RULES:
        return _rule_change(message, table, placement)
    internal = message.subject.startswith(subjects.INTERNAL_PREFIX + ".")
    if not internal and not message.subject.startswith(subjects.INGEST_PREFIX + "."):
        return Routed(dropped=[Dropped(None, None, f"unexpected subject {message.subject!r}")])
    tenant = subjects.tenant_of(message.subject)
    if not subjects.valid_tenant(tenant):
        return Routed(dropped=[Dropped(None, None, f"invalid tenant name {tenant!r} in {message.subject!r}")])
    received, stamp = _received_at(message)
    raw = RawMessage(
        message.sequence,
        tenant,
        internal,
        message.data,
        message.headers.get(subjects.CONTENT_TYPE),
        message.headers.get(subjects.MSG_ID),
        received,
    )
    events, refused = read_events(raw)
    routed = Routed(events=len(events), dropped=[Dropped(tenant, r.event_id, r.error) for r in refused])
    trigger = message.headers.get(subjects.TRIGGER_RULE) if internal else None
    if trigger:  # a trigger request: only the rule it names, on the shard of its series, in a message of its own
        reply = message.headers.get(subjects.TRIGGER_REPLY, "")
        for event in events:
            _trigger(event, trigger, reply, table, placement, routed, max_bytes)
    else:
        picks: dict[int, list[int]] = {}
        for index, event in enumerate(events):
            for shard in placement.event_shards(table.candidate_plans(event), event):
                picks.setdefault(shard, []).append(index)
        if picks:
            _batch(raw, message.subject, stamp, events, picks, placement, routed, max_bytes, message.traceparent)
    if not internal and subjects.RECEIVED_AT not in message.headers:
        routed.counted = routed.events  # from a NATS producer: the HTTP route has not counted these
    return routed


def _trigger(
    event: Event, rule_id: str, reply: str, table: RuleTable, placement: Placement, routed: Routed, max_bytes: int
) -> None:
    body = work_trigger(event, rule_id, reply)
    if len(body) > max_bytes:
        routed.dropped.append(Dropped(event.tenant, event.event_id, f"the work message is {len(body)} bytes"))
        return
    held = table.held(rule_id)
    plan = held.plan if held is not None and held.plan is not None and held.plan.rule.tenant == event.tenant else None
    shard = placement.trigger_shard(plan, rule_id, event)
    routed.outgoing.append(Outgoing(subjects.work_subject(shard), body, f"{event.event_id}:{shard}"))


def _batch(
    raw: RawMessage,
    subject: str,
    stamp: str,
    events: list[Event],
    picks: dict[int, list[int]],
    placement: Placement,
    routed: Routed,
    max_bytes: int,
    traceparent: str | None = None,
) -> None:
    """The message's events for their shards: forwarded as stored (series scheme), else as JSON work items."""
    if placement.scheme == SERIES:  # the evaluators of this release read raw batches
        rows = {
            shard: RawRow(raw.seq, subject, stamp, raw.content_type, raw.msg_id, raw.data, tuple(indexes), traceparent)
            for shard, indexes in sorted(picks.items())
        }
        shared = shared_cost(next(iter(rows.values())))
        costs = {shard: (row, shared + picks_cost(row.picks)) for shard, row in rows.items()}
        if RAW_BATCH_OVERHEAD + max(cost for _, cost in costs.values()) <= max_bytes:
            routed.batched.append(RoutedRaw(raw.seq, costs))
            return
    # Earlier evaluators, or a message too large to forward whole: each event on its own.
    shards_of: dict[int, list[int]] = {}
    for shard, indexes in picks.items():
        for index in indexes:
            shards_of.setdefault(index, []).append(shard)
    for index in sorted(shards_of):
        event = events[index]
        item = work_item(raw.seq, index, event)
        if len(item) + WORK_EVENTS_OVERHEAD > max_bytes:
            routed.dropped.append(Dropped(event.tenant, event.event_id, f"the work message is {len(item)} bytes"))
            continue
        routed.batched.append(RoutedEvent(raw.seq, index, item, tuple(sorted(shards_of[index]))))


def _received_at(message: Inbound) -> tuple[datetime, str]:
    """When the message arrived (the header, else its stored time), and that time as the shard will read it."""
    stamp = message.headers.get(subjects.RECEIVED_AT)
    if stamp:
        try:
            return parse_time(stamp), stamp
        except ValueError:
            pass
    return message.stored_at, format_time(message.stored_at)


def _rule_change(message: Inbound, table: RuleTable, placement: Placement) -> Routed:
    try:
        change = RuleChange.decode(message.data)
        rule = None if change.op == "delete" or change.rule is None else rule_of(change.rule)
    except (ValueError, KeyError, TypeError, ValidationError) as exc:
        return Routed(dropped=[Dropped(None, None, f"unreadable rule change at {message.sequence}: {exc}")])
    if rule is None:
        table.delete(change.rule_id, change.version)
    else:
        table.upsert(rule)
    body = work_rule(change, (message.sequence, 0))
    work = [
        Outgoing(subjects.work_subject(shard), body, f"{change.msg_id()}:{shard}")
        for shard in placement.rule_shards(change.rule_id)
    ]
    return Routed(outgoing=work, ordered=True)


def rule_of(data: Any) -> Rule:
    """A rule from its canonical JSON (the bucket's value and a change's `rule`)."""
    return Rule.model_validate(data)
