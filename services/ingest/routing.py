"""What one message of the raw stream becomes on the shard work stream: the router's decisions, without I/O."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from services.common.domain.evaluation.sharding import shard_for as _shard_for
from services.common.domain.events.intake import BadLine, Item, NotJson, check_item, split_body, to_event
from services.common.domain.events.model import Event, parse_time
from services.common.domain.rules.model import Rule
from services.common.messages.work import WORK_EVENTS_OVERHEAD, RuleChange, work_item, work_rule, work_trigger
from services.common.nats import subjects
from services.common.nats.publishing import Outgoing
from services.ingest.rule_table import RuleTable

# sha256 per (rule, event) adds up at thousands of events per second; the answer never changes for a pair.
shard_for = functools.lru_cache(maxsize=1 << 16)(_shard_for)


@dataclass(frozen=True)
class Inbound:
    """A message of the raw stream as the router needs it: subject, body, headers, sequence, stored time."""

    subject: str
    data: bytes
    headers: Mapping[str, str]
    sequence: int
    stored_at: datetime


@dataclass(frozen=True)
class Dropped:
    """An item the router refused (it reaches no shard): the tenant and event id when known, and why."""

    tenant: str | None
    event_id: str | None
    error: str


@dataclass(frozen=True)
class RoutedEvent:
    """An event for the shards that need it: its raw position (sequence, index) and its encoded work item."""

    seq: int
    index: int
    item: bytes
    shards: tuple[int, ...]


@dataclass
class Routed:
    """The work of one inbound message: events to batch per shard (`batched`) and whole work messages
    (`outgoing`: triggers, a rule change); `ordered` ones (rule changes) must not overtake or be overtaken."""

    outgoing: list[Outgoing] = field(default_factory=list)
    batched: list[RoutedEvent] = field(default_factory=list)
    ordered: bool = False
    events: int = 0  # valid events decoded (routed or not)
    counted: int = 0  # of those, the ones counted as accepted here (not already counted by the HTTP route)
    dropped: list[Dropped] = field(default_factory=list)


def route(message: Inbound, table: RuleTable, shards: int, max_bytes: int) -> Routed:
    """Route one message: a rule change updates the table and goes to its owning shard; events to candidates."""
    if message.subject == subjects.CONTROL_RULES:
        return _rule_change(message, table, shards)
    internal = message.subject.startswith(subjects.INTERNAL_PREFIX + ".")
    if not internal and not message.subject.startswith(subjects.INGEST_PREFIX + "."):
        return Routed(dropped=[Dropped(None, None, f"unexpected subject {message.subject!r}")])
    tenant = subjects.tenant_of(message.subject)
    if not subjects.valid_tenant(tenant):
        return Routed(dropped=[Dropped(None, None, f"invalid tenant name {tenant!r} in {message.subject!r}")])
    routed = Routed()
    for index, event in enumerate(_events(message, tenant, internal, routed)):
        routed.events += 1
        trigger = message.headers.get(subjects.TRIGGER_RULE) if internal else None
        if trigger:  # a trigger request: only the rule it names, on that rule's shard, in a message of its own
            body = work_trigger(event, trigger, message.headers.get(subjects.TRIGGER_REPLY, ""))
            if len(body) > max_bytes:
                routed.dropped.append(Dropped(tenant, event.event_id, f"the work message is {len(body)} bytes"))
                continue
            shard = shard_for(trigger, shards)
            routed.outgoing.append(Outgoing(subjects.work_subject(shard), body, f"{event.event_id}:{shard}"))
            continue
        owners = tuple(sorted({shard_for(rule_id, shards) for rule_id in table.candidates(event)}))
        if not owners:
            continue
        item = work_item(message.sequence, index, event)
        if len(item) + WORK_EVENTS_OVERHEAD > max_bytes:
            routed.dropped.append(Dropped(tenant, event.event_id, f"the work message is {len(item)} bytes"))
            continue
        routed.batched.append(RoutedEvent(message.sequence, index, item, owners))
    if not internal and subjects.RECEIVED_AT not in message.headers:
        routed.counted = routed.events  # from a NATS producer: the HTTP route has not counted these
    return routed


def _events(message: Inbound, tenant: str, internal: bool, routed: Routed) -> list[Event]:
    """The valid events of a message (an object, an array or NDJSON); refused items go to `routed.dropped`."""
    try:
        values = split_body(message.data, message.headers.get(subjects.CONTENT_TYPE))
    except NotJson as exc:
        routed.dropped.append(Dropped(tenant, _base_id(message, tenant), str(exc)))
        return []
    received = _received_at(message)
    events: list[Event] = []
    for index, value in enumerate(values):
        base_id = _base_id(message, tenant)
        event_id = base_id if len(values) == 1 else f"{base_id}.{index}"
        item: Item | str = (
            value.error
            if isinstance(value, BadLine)
            else check_item(value, received, index=index, allow_reserved=internal)
        )
        if isinstance(item, str):
            routed.dropped.append(Dropped(tenant, event_id, item))
            continue
        events.append(to_event(item, event_id=event_id, tenant=tenant, received_at=received))
    return events


def _base_id(message: Inbound, tenant: str) -> str:
    """The producer's `Nats-Msg-Id`, else the stream sequence: the same on every replay.

    A NATS producer's id arrives scoped to its tenant (`<tenant>/<id>`, services/ingest/producers.py, so tenants
    never de-duplicate each other's events); the event keeps the id the producer chose.
    """
    msg_id = message.headers.get(subjects.MSG_ID)
    if not msg_id:
        return str(message.sequence)
    return msg_id.removeprefix(f"{tenant}/")


def _received_at(message: Inbound) -> datetime:
    stamp = message.headers.get(subjects.RECEIVED_AT)
    if stamp:
        try:
            return parse_time(stamp)
        except ValueError:
            pass
    return message.stored_at


def _rule_change(message: Inbound, table: RuleTable, shards: int) -> Routed:
    try:
        change = RuleChange.decode(message.data)
        rule = None if change.op == "delete" or change.rule is None else rule_of(change.rule)
    except (ValueError, KeyError, TypeError, ValidationError) as exc:
        return Routed(dropped=[Dropped(None, None, f"unreadable rule change at {message.sequence}: {exc}")])
    if rule is None:
        table.delete(change.rule_id, change.version)
    else:
        table.upsert(rule)
    shard = shard_for(change.rule_id, shards)
    body = work_rule(change, (message.sequence, 0))
    work = Outgoing(subjects.work_subject(shard), body, f"{change.msg_id()}:{shard}")
    return Routed(outgoing=[work], ordered=True)


def rule_of(data: Any) -> Rule:
    """A rule from its canonical JSON (the bucket's value and a change's `rule`)."""
    return Rule.model_validate(data)
