"""Work messages as a shard sees them: CEP_WORK payloads (`services/common/messages/work.py`)
decoded into typed items (pure, no I/O).

A work message holds one item, or a router batch of events for the shard: a raw batch (the raw messages as
stored, read here as the router read them: `services/common/messages/raw_batches.py`) or, from earlier versions
and for messages too large to forward raw, a JSON `events` batch. Events and rule
changes carry their position on the raw stream, `(raw sequence, index among that message's events)`; the
router routes each tenant's messages in raw order (one router, or the one routing the tenant's partition), so a
shard that remembers the last position it applied per tenant (`RawDone`) recognises the copies a router replay
publishes again under other batch boundaries (`fresh`). An item is known by
`(work sequence, index in its message)` (`item_id`): poison is per item, not per message.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from services.common.domain.events.model import Event, parse_time
from services.common.domain.events.raw_messages import RawMessage, read_events
from services.common.domain.rules.model import Rule
from services.common.messages.codec import MessageError, reason
from services.common.messages.raw_batches import RawRow, decode_raw_batch, is_raw_batch
from services.common.messages.work import (
    EventMessage,
    EventsMessage,
    RuleChange,
    RuleMessage,
    TickMessage,
    TriggerMessage,
    WorkMessage,
    decode_work,
    read_work_item,
)
from services.common.nats import subjects


class WorkError(ValueError):
    """A work message that cannot be decoded: poison, acknowledged and counted, never retried."""


RawPosition = tuple[int, int]  # (raw stream sequence, index among the events of that raw message)
ItemId = tuple[int, int]  # (work stream sequence, index in the work message)
NOWHERE: RawPosition = (0, 0)  # before the first raw message


@dataclass(frozen=True)
class RawDone:
    """The raw positions a shard has applied: the last one per tenant, over a floor applied for every tenant.

    Per tenant, because routing is partitioned by tenant (services/common/nats/router_partitions.py): work from several
    routers interleaves on a shard's subject, and only each tenant's positions arrive in raw order. `floor` is
    what a snapshot of an earlier version recorded (one position for the whole stream, from a single router).
    Never changed in place (a snapshot being written holds it); `fresh` returns a new one.
    """

    floor: RawPosition = NOWHERE
    tenants: Mapping[str, RawPosition] = field(default_factory=dict)

    def of(self, tenant: str) -> RawPosition:
        """The last position applied of `tenant`'s messages."""
        return max(self.floor, self.tenants.get(tenant, NOWHERE))

    def encode(self) -> dict[str, object]:
        """The snapshot fields: `raw_done` (the floor, as earlier versions read it) and `raw_done_by_tenant`."""
        return {"raw_done": list(self.floor), "raw_done_by_tenant": {t: list(p) for t, p in self.tenants.items()}}

    @classmethod
    def decode(cls, body: Mapping[str, object]) -> RawDone:
        """From a snapshot's fields; a snapshot of an earlier version has `raw_done` only, or nothing."""
        floor = body.get("raw_done") or NOWHERE
        tenants = body.get("raw_done_by_tenant") or {}
        if not isinstance(floor, list | tuple) or not isinstance(tenants, dict):
            raise ValueError("raw_done: not a raw position")
        return cls(_position(floor), {str(t): _position(p) for t, p in tenants.items()})

    @staticmethod
    def merged(many: Sequence[RawDone]) -> RawDone:
        """The latest position of every tenant over several shards' (a rebalance's new shards start from it)."""
        floor = max((done.floor for done in many), default=NOWHERE)
        tenants: dict[str, RawPosition] = {}
        for done in many:
            for tenant, position in done.tenants.items():
                tenants[tenant] = max(position, tenants.get(tenant, NOWHERE))
        return RawDone(floor, tenants)


def _position(value: object) -> RawPosition:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ValueError(f"raw_done: {value!r} is not a raw position")
    return int(value[0]), int(value[1])


@dataclass(frozen=True)
class EventWork:
    """An event; `index` is its place in a batched message, `raw` its raw position (None: an old single one)."""

    seq: int
    event: Event
    index: int = 0
    raw: RawPosition | None = None
    traceparent: str | None = None  # the trace context of its raw message, while tracing (docs/tracing.md)


@dataclass(frozen=True)
class RuleWork:
    """A rule change; `rule` is the validated rule of an upsert (None for a delete)."""

    seq: int
    change: RuleChange
    rule: Rule | None
    raw: RawPosition | None = None


@dataclass(frozen=True)
class TickWork:
    seq: int
    now: datetime


@dataclass(frozen=True)
class TriggerWork:
    seq: int
    event: Event
    rule_id: str
    reply: str


Work = EventWork | RuleWork | TickWork | TriggerWork


def item_id(item: Work) -> ItemId:
    return item.seq, item.index if isinstance(item, EventWork) else 0


def decode(seq: int, data: bytes) -> Work:
    """Decode a one-item work message (`messages.work`) found at stream sequence `seq`; WorkError when malformed."""
    items, bad = decode_message(seq, data)
    if bad or len(items) != 1:
        raise WorkError(next(iter(bad.values()), "not a one-item work message"))
    return items[0]


def decode_message(seq: int, data: bytes) -> tuple[list[Work], dict[int, str]]:
    """The items of the work message at stream sequence `seq`, and the malformed items of a batch by index.

    WorkError (with the reason, naming the field) when the message as a whole is malformed; one bad event of a
    batch leaves the others decoded.
    """
    try:
        if is_raw_batch(data):
            return _raw_rows(seq, decode_raw_batch(data))
        message = decode_work(data)
        if isinstance(message, EventsMessage):
            return _events(seq, message.events)
        return [_item(seq, message)], {}
    except MessageError as exc:
        raise WorkError(f"malformed work message: {exc.reason}") from None


def _events(seq: int, entries: list[Any]) -> tuple[list[Work], dict[int, str]]:
    items: list[Work] = []
    bad: dict[int, str] = {}
    for index, entry in enumerate(entries):
        try:
            found = read_work_item(entry)
            items.append(EventWork(seq, found.event, index, (found.seq, found.index)))
        except MessageError as exc:
            bad[index] = f"malformed work item: events.{index}.{exc.reason}"
    return items, bad


def _raw_rows(seq: int, rows: list[RawRow]) -> tuple[list[Work], dict[int, str]]:
    """The picked events of a raw batch's messages, numbered in order; a pick that cannot be read is poison."""
    items: list[Work] = []
    bad: dict[int, str] = {}
    seen: dict[str, Any] = {}  # subjects and stamps read once per batch
    index = 0
    for row in rows:
        events, problem = _row_events(row, seen)
        for pick in row.picks:
            if problem is None and pick < len(events):
                items.append(EventWork(seq, events[pick], index, (row.seq, pick), row.traceparent))
            else:
                why = problem or f"it holds {len(events)} event(s)"
                bad[index] = f"malformed work item: event {pick} of raw message {row.seq}: {why}"
            index += 1
    return items, bad


def _row_events(row: RawRow, seen: dict[str, Any]) -> tuple[list[Event], str | None]:
    """The events of one raw message of a batch, read as the router read them; or why they cannot be."""
    source = seen.get(row.subject)
    if source is None:
        source = seen[row.subject] = _source(row.subject)
    if isinstance(source, str):
        return [], source
    tenant, internal = source
    received = seen.get(row.stamp)
    if received is None:
        try:
            received = seen[row.stamp] = parse_time(row.stamp)
        except ValueError as exc:
            return [], f"stamp: {exc}"
    try:
        events, _ = read_events(RawMessage(row.seq, tenant, internal, row.data, row.content_type, row.msg_id, received))
    except Exception as exc:  # the router read the same bytes: only a damaged message gets here
        return [], f"{type(exc).__name__}: {exc}"
    return events, None


def _source(subject: str) -> tuple[str, bool] | str:
    """The tenant of an event subject and whether it is the platform's own; or why it is no event subject."""
    prefix, _, tenant = subject.rpartition(".")
    if not subjects.valid_tenant(tenant) or prefix not in (subjects.INGEST_PREFIX, subjects.INTERNAL_PREFIX):
        return f"subject {subject!r} is not an event subject"
    return tenant, prefix == subjects.INTERNAL_PREFIX


def _item(seq: int, message: WorkMessage) -> Work:
    if isinstance(message, EventMessage):
        return EventWork(seq, message.event)
    if isinstance(message, RuleMessage):
        change = message.change
        try:
            rule = None if change.op == "delete" else Rule.model_validate(change.rule)
        except ValidationError as exc:
            raise MessageError(f"change.rule.{reason(exc)}") from None
        return RuleWork(seq, change, rule, message.raw)
    if isinstance(message, TickMessage):
        return TickWork(seq, message.now)
    if isinstance(message, TriggerMessage):
        return TriggerWork(seq, message.event, message.rule_id, message.reply)
    raise MessageError(f"kind: {message.kind!r} is not a one-item work message")


def fresh(items: Sequence[Work], raw_done: RawDone) -> tuple[list[Work], RawDone]:
    """The items not applied yet, and the raw positions applied once they are.

    An event or rule change at or before its tenant's position in `raw_done` is a copy from a router replay:
    left out. Items without a raw position (ticks, triggers, messages of earlier versions) always count.
    """
    out: list[Work] = []
    tenants: dict[str, RawPosition] | None = None  # copied once, at the first position that moves
    for item in items:
        if isinstance(item, EventWork) and item.raw is not None:
            tenant, raw = item.event.tenant, item.raw
        elif isinstance(item, RuleWork) and item.raw is not None:
            tenant, raw = item.change.tenant, item.raw
        else:
            out.append(item)
            continue
        held = raw_done.tenants if tenants is None else tenants
        if raw <= max(raw_done.floor, held.get(tenant, NOWHERE)):
            continue
        if tenants is None:
            tenants = dict(raw_done.tenants)
        tenants[tenant] = raw
        out.append(item)
    return out, raw_done if tenants is None else RawDone(raw_done.floor, tenants)


def steps(items: Sequence[Work], chunk: int, careful_through: int = 0) -> Iterator[list[Work]]:
    """Group items into engine calls, in order: runs of consecutive events up to `chunk` long, anything else alone.

    Items at or below `careful_through` go one per call, so a replay after an engine failure finds the culprit.
    """
    run: list[Work] = []
    for item in items:
        single = item.seq <= careful_through
        if isinstance(item, EventWork) and not single:
            run.append(item)
            if len(run) >= chunk:
                yield run
                run = []
            continue
        if run:
            yield run
            run = []
        yield [item]
    if run:
        yield run
