"""Work messages (CEP_WORK `cep.work.<shard>`), rule changes and trigger replies.

- rule change    CEP_EVENTS `cep.control.rules`, forwarded to the owning shard's work subject inside a `rule` message
- work message   {"kind": "events" | "event" | "rule" | "tick" | "trigger", ...}; `events` carries a router batch
                 of events for one shard, each with its raw position (`seq`, `index`); the single-event kind
                 `event` of earlier versions still decodes
- trigger reply  core NATS `cep.trigger.reply.<id>`: the owning shard's answer to a trigger work message

The events of a batch are the hot path (every event crosses it once): the envelope is validated by pydantic and
each event by `read_work_item`, a strict hand-written check, so one bad event is reported on its own and the others
of its batch still apply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator, TypeAdapter

from services.common.domain.events.model import Event, format_time, parse_time
from services.common.messages.codec import MessageError, Time, decode, dumps, parsed

WorkKind = Literal["events", "event", "rule", "tick", "trigger"]


# -- events ------------------------------------------------------------------------------------------------
def event_to_dict(event: Event) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "tenant": event.tenant,
        "event_type": event.event_type,
        "time": format_time(event.time),
        "received_at": None if event.received_at is None else format_time(event.received_at),
        "payload": dict(event.payload),
    }


def event_from_dict(data: Any) -> Event:
    """An event of a work message, checked field by field; MessageError naming the field when it is not one."""
    if isinstance(data, Event):
        return data
    if not isinstance(data, dict):
        raise MessageError(f"event: expected an object, got {type(data).__name__}")
    try:
        event_id, tenant, time, payload = data["event_id"], data["tenant"], data["time"], data["payload"]
    except KeyError as exc:
        raise MessageError(f"event.{exc.args[0]}: field required") from None
    event_type, received = data.get("event_type"), data.get("received_at")
    if type(event_id) is not str:
        raise MessageError(f"event.event_id: expected a string, got {type(event_id).__name__}")
    if type(tenant) is not str:
        raise MessageError(f"event.tenant: expected a string, got {type(tenant).__name__}")
    # The payload is passed on as sent (ingest only takes JSON objects): one the engine cannot read is isolated by
    # the shard's careful replay and reported as poison with its event, as before.
    if event_type is not None and type(event_type) is not str:
        raise MessageError(f"event.event_type: expected a string or null, got {type(event_type).__name__}")
    return Event(
        event_id=event_id,
        tenant=tenant,
        time=_time("event.time", time),
        payload=payload,
        event_type=event_type,
        received_at=None if received is None else _time("event.received_at", received),
    )


def _time(field: str, value: Any) -> datetime:
    if type(value) is not str:
        raise MessageError(f"{field}: expected an RFC 3339 time string, got {type(value).__name__}")
    try:
        return parse_time(value)
    except ValueError as exc:
        raise MessageError(f"{field}: {exc}") from None


def _event(value: Any) -> Event:
    try:
        return event_from_dict(value)
    except MessageError as exc:  # pydantic adds where the event is; the reason starts at the event
        raise ValueError(exc.reason.removeprefix("event").lstrip(".: ")) from None


# An event on the wire: `event_to_dict`'s object, an Event in Python.
WireEvent = Annotated[Event, PlainValidator(_event), PlainSerializer(event_to_dict)]


# -- rule changes ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RuleChange:
    """A committed rule change: `rule` is the canonical Rule JSON (None for a delete)."""

    op: Literal["upsert", "delete"]
    tenant: str
    rule_id: str
    version: int
    rule: dict[str, Any] | None
    at: Time

    def msg_id(self) -> str:
        return f"rule:{self.rule_id}:{self.version}:{self.op}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "op": self.op,
            "tenant": self.tenant,
            "rule_id": self.rule_id,
            "version": self.version,
            "rule": self.rule,
            "at": format_time(self.at),
        }

    @classmethod
    def decode(cls, data: bytes | Mapping[str, Any]) -> RuleChange:
        """A rule change from `cep.control.rules`; MessageError naming the field when malformed."""
        return decode(cls, data)


# -- work messages -----------------------------------------------------------------------------------------
class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)


class EventsMessage(_Message):
    """A router batch; its `events` are checked one by one (`read_work_item`), so one bad event spoils only itself."""

    kind: Literal["events"]
    events: list[Any]


class EventMessage(_Message):
    """The single-event work message of earlier versions (still decoded; the router now sends batches)."""

    kind: Literal["event"]
    event: WireEvent


class RuleMessage(_Message):
    """A rule change; `raw` is its position on the raw stream (sequence, 0), so a replayed copy is recognised."""

    kind: Literal["rule"]
    change: RuleChange
    raw: tuple[int, int] | None = None


class TickMessage(_Message):
    kind: Literal["tick"]
    now: Time


class TriggerMessage(_Message):
    kind: Literal["trigger"]
    event: WireEvent
    rule_id: str
    reply: str


WorkMessage = Annotated[
    EventsMessage | EventMessage | RuleMessage | TickMessage | TriggerMessage, Field(discriminator="kind")
]
WORK_MESSAGE: TypeAdapter[WorkMessage] = TypeAdapter(WorkMessage)


@dataclass(frozen=True)
class WorkItem:
    """One event of an `events` message: its raw stream sequence and its index among that message's events."""

    seq: int
    index: int
    event: Event


def read_work_item(entry: Any) -> WorkItem:
    """Check one entry of an `events` message; MessageError naming the field when it is malformed."""
    if not isinstance(entry, dict):
        raise MessageError(f"expected an object, got {type(entry).__name__}")
    seq, index = entry.get("seq"), entry.get("index")
    if type(seq) is not int:
        raise MessageError(f"seq: expected an integer, got {type(seq).__name__}")
    if type(index) is not int:
        raise MessageError(f"index: expected an integer, got {type(index).__name__}")
    if "event" not in entry:
        raise MessageError("event: field required")
    return WorkItem(seq, index, event_from_dict(entry["event"]))


def decode_work(data: bytes | Any) -> WorkMessage:
    """A work message; MessageError naming the field when malformed (a batch's events: see `read_work_item`)."""
    body = parsed(data)
    try:
        return decode(WORK_MESSAGE, body)
    except MessageError as exc:  # pydantic starts the field's path with the kind: `tick.now` -> `now`
        kind = body.get("kind") if isinstance(body, dict) else None
        raise MessageError(exc.reason.removeprefix(f"{kind}.")) from None


def work_event(event: Event) -> bytes:
    """The single-event work message of earlier versions (still decoded; the router now sends `work_events`)."""
    return dumps({"kind": "event", "event": event_to_dict(event)})


def work_item(seq: int, index: int, event: Event) -> bytes:
    """One event of a `work_events` message: its raw stream sequence and its index among that message's events."""
    return dumps({"seq": seq, "index": index, "event": event_to_dict(event)})


_EVENTS_HEAD = b'{"kind":"events","events":['
_EVENTS_TAIL = b"]}"
WORK_EVENTS_OVERHEAD = len(_EVENTS_HEAD) + len(_EVENTS_TAIL)


def work_events(items: Sequence[bytes]) -> bytes:
    """A batch of encoded work items for one shard (size: WORK_EVENTS_OVERHEAD + items + a comma between)."""
    return _EVENTS_HEAD + b",".join(items) + _EVENTS_TAIL


def work_rule(change: RuleChange, raw: tuple[int, int] | None = None) -> bytes:
    """A rule change; `raw` is its position on the raw stream (sequence, 0), so a replayed copy is recognised."""
    body: dict[str, Any] = {"kind": "rule", "change": change.as_dict()}
    if raw is not None:
        body["raw"] = list(raw)
    return dumps(body)


def work_tick(now: datetime) -> bytes:
    return dumps({"kind": "tick", "now": format_time(now)})


def work_trigger(event: Event, rule_id: str, reply: str) -> bytes:
    return dumps({"kind": "trigger", "event": event_to_dict(event), "rule_id": rule_id, "reply": reply})


# -- trigger replies ---------------------------------------------------------------------------------------
class TriggerError(_Message):
    kind: Literal["unknown_rule", "failed"]
    detail: str


class TriggerReply(_Message):
    """The shard's answer to a trigger; `error` when it could not evaluate at all."""

    matched: bool
    event_id: str | None
    state: str
    explanation: list[dict[str, Any]]
    errors: list[str]
    error: TriggerError | None = None

    @classmethod
    def decode(cls, data: bytes | Mapping[str, Any]) -> TriggerReply:
        return decode(cls, data)


def trigger_reply(
    matched: bool,
    event_id: str | None,
    state: str,
    explanation: list[dict[str, Any]],
    errors: list[str],
    error: tuple[Literal["unknown_rule", "failed"], str] | None = None,
) -> bytes:
    """The shard's answer to a trigger; `error` (kind, detail) when it could not evaluate at all."""
    body: dict[str, Any] = {
        "matched": matched,
        "event_id": event_id,
        "state": state,
        "explanation": explanation,
        "errors": errors,
    }
    if error is not None:
        body["error"] = {"kind": error[0], "detail": error[1]}
    return dumps(body)
