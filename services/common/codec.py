"""Wire formats of the messages on NATS: one encode/decode pair per message kind, JSON via orjson.

Kinds and where they travel (subjects in `subjects.py`):
- raw event      CEP_EVENTS `cep.ingest.<tenant>` / `cep.internal.<tenant>`: the producer's JSON object as sent;
                 `Nats-Msg-Id` = event id, `Cep-Received-At` = arrival time (set by HTTP ingest)
- rule change    CEP_EVENTS `cep.control.rules`, forwarded to the owning shard's work subject
- work message   CEP_WORK `cep.work.<shard>`: {"kind": "events" | "rule" | "tick" | "trigger", ...}; `events`
                 carries a router batch's events for one shard, each with its raw position (`seq`, `index`);
                 the single-event kind `event` of earlier versions still decodes
- trigger reply  core NATS `cep.trigger.reply.<id>`: the owning shard's answer to a trigger work message
- alert          CEP_ALERTS `cep.alerts.<tenant>`: a Transition plus the rule's actions; `Nats-Msg-Id` = transition id
- delivery job   CEP_DELIVERY `cep.deliver.<tenant>`: one (transition, action); id = transition id + action index
- digest job     CEP_DELIVERY `cep.deliver.<tenant>`: a storm digest's timer (`digest-timer`, delayed until the
                 window ends) or one digest to one action's channel (`digest`); ids carry rule and window start
- group job      CEP_DELIVERY `cep.deliver.<tenant>`: a group's flush or repeat timer, or one batch of grouped
                 notifications to one action's channel
- ACK notice     CEP_ALERTS `cep.acks.<tenant>`: the feed's `acked` message; id = `ack:<event id>`
- dead letter    CEP_DEAD `cep.dead.<tenant>`: a delivery job that failed for good, with its last result
- channel entry  KV `cep-channels` `<tenant>.<channel_id>`: a channel with its secrets sealed (channel_sealing.py)
- delivery result CEP_RESULTS `cep.results.<tenant>`: one attempt's outcome; id = job id + attempt
- feed message   CEP_FEED_<tenant> `cep.feed.<tenant>`: {"type": fired|updated|acked|resolved|notification, "event"}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import orjson

from services.common.domain.events.model import Event, format_time, parse_time
from services.common.domain.lifecycle.transitions import Transition

WorkKind = Literal["events", "event", "rule", "tick", "trigger"]
FeedType = Literal["fired", "updated", "acked", "resolved", "notification"]


def dumps(data: Any) -> bytes:
    """Compact JSON bytes (datetimes as RFC 3339; non-JSON types as strings)."""
    return orjson.dumps(data, default=str)


def loads(data: bytes | str) -> Any:
    """Parse JSON bytes; raises ValueError (orjson.JSONDecodeError) on malformed input."""
    return orjson.loads(data)


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


def event_from_dict(data: Mapping[str, Any]) -> Event:
    received = data.get("received_at")
    return Event(
        event_id=data["event_id"],
        tenant=data["tenant"],
        time=parse_time(data["time"]),
        payload=data["payload"],
        event_type=data.get("event_type"),
        received_at=None if received is None else parse_time(received),
    )


# -- rule changes ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RuleChange:
    """A committed rule change: `rule` is the canonical Rule JSON (None for a delete)."""

    op: Literal["upsert", "delete"]
    tenant: str
    rule_id: str
    version: int
    rule: dict[str, Any] | None
    at: datetime

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
    def from_dict(cls, data: Mapping[str, Any]) -> RuleChange:
        return cls(
            data["op"], data["tenant"], data["rule_id"], int(data["version"]), data.get("rule"), parse_time(data["at"])
        )


# -- work messages -----------------------------------------------------------------------------------------
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
    """A batch of encoded `work_item`s for one shard (size: WORK_EVENTS_OVERHEAD + items + a comma between)."""
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


# -- alerts ------------------------------------------------------------------------------------------------
def alert(transition: Transition, actions: list[dict[str, Any]]) -> bytes:
    """An alert message: the transition and the actions of the rule version that produced it."""
    return dumps({**transition.as_dict(), "actions": actions})


def alert_from(data: bytes) -> tuple[Transition, list[dict[str, Any]]]:
    body = loads(data)
    return Transition.from_dict(body), list(body.get("actions") or [])


# -- feed --------------------------------------------------------------------------------------------------
def feed(kind: FeedType, event: Mapping[str, Any]) -> bytes:
    """A feed message: the SSE `event:` name and the full Event JSON as GET /cep/events/{id} returns it."""
    return dumps({"type": kind, "event": event})


# -- deliveries --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DeliveryResult:
    """One delivery attempt of one (transition, action), as the recorder stores it in `notifications[]`."""

    tenant: str
    event_id: str
    transition_id: str
    action_index: int
    channel: str  # the channel as the action names it (name or id)
    channel_id: str | None
    type: str  # channel type: webhook, slack, email, ...
    status: Literal["pending", "sent", "failed", "retrying", "suppressed"]
    attempt: int
    at: datetime
    latency_ms: float | None = None
    status_code: int | None = None
    error: str | None = None
    final: bool = False
    error_kind: str | None = None  # timeout | auth | network | http | config | template | egress
    reason: str | None = None  # why a stage stopped or delayed it (suppressed by the storm budget, ...)
    excerpt: str | None = None  # the start of the response body, where the channel records it (api_call)

    def msg_id(self) -> str:
        return f"{self.transition_id}:{self.action_index}:{self.attempt}:{self.status}"

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["at"] = format_time(self.at)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeliveryResult:
        values = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        values["at"] = parse_time(values["at"])
        return cls(**values)


@dataclass(frozen=True)
class DeliveryJob:
    """One (transition, action) to deliver; `index` is the action's position in the rule's `action_spec`."""

    transition: Transition
    action: dict[str, Any]
    index: int

    @property
    def tenant(self) -> str:
        return self.transition.tenant

    def msg_id(self) -> str:
        return f"{self.transition.transition_id}:{self.index}"

    def encode(self) -> bytes:
        return dumps({"transition": self.transition.as_dict(), "action": self.action, "index": self.index})

    @classmethod
    def decode(cls, data: bytes) -> DeliveryJob:
        body = loads(data)
        return cls(Transition.from_dict(body["transition"]), dict(body["action"]), int(body["index"]))


DigestKind = Literal["digest-timer", "digest"]


@dataclass(frozen=True)
class DigestJob:
    """A storm digest of one rule's budget window: the timer that fires when the window ends, or one digest to
    the channel of action `index` (`text` is the digest message, `window` the counts it reports)."""

    kind: DigestKind
    tenant: str
    rule_id: str
    rule_name: str
    start: float  # the window's start, unix seconds
    due: float  # when the window ends
    index: int = -1
    action: dict[str, Any] | None = None
    text: str = ""
    window: dict[str, Any] | None = None

    def msg_id(self) -> str:
        base = f"digest:{self.tenant}:{self.rule_id}:{self.start:.3f}"
        return base if self.kind == "digest-timer" else f"{base}:{self.index}"

    def encode(self) -> bytes:
        return dumps({"job": self.kind, **{k: v for k, v in self.__dict__.items() if k != "kind"}})

    @classmethod
    def decode(cls, body: Mapping[str, Any]) -> DigestJob:
        values = {k: body[k] for k in cls.__dataclass_fields__ if k in body and k != "kind"}
        return cls(kind=body["job"], **values)


GroupKind = Literal["group-timer", "repeat-timer", "group"]


@dataclass(frozen=True)
class GroupJob:
    """Grouped notifications of one group of a rule: the flush timer (`group-timer`, set at flush number
    `flushes`), the repeat timer (`repeat-timer`, set by flush `flushes`), or one batch to the channel of
    action `index` (`group`: `members` are transitions as dicts; `repeat` when it is a reminder)."""

    kind: GroupKind
    tenant: str
    rule_id: str
    group: str  # the group's id (a hash of its labels)
    labels: str
    due: float
    flushes: int
    index: int = -1
    action: dict[str, Any] | None = None
    members: list[dict[str, Any]] | None = None
    dropped: int = 0
    repeat: bool = False

    def msg_id(self) -> str:
        base = f"group:{self.tenant}:{self.rule_id}:{self.group}:{self.flushes}"
        return f"{base}:{self.kind}" if self.kind != "group" else f"{base}:{self.index}"

    def encode(self) -> bytes:
        return dumps({"job": self.kind, **{k: v for k, v in self.__dict__.items() if k != "kind"}})

    @classmethod
    def decode(cls, body: Mapping[str, Any]) -> GroupJob:
        values = {k: body[k] for k in cls.__dataclass_fields__ if k in body and k != "kind"}
        return cls(kind=body["job"], **values)


def delivery_job_from(data: bytes) -> DeliveryJob | DigestJob | GroupJob:
    """A message of the delivery stream: a (transition, action) job, a digest job or a group job."""
    body = loads(data)
    if isinstance(body, dict) and body.get("job") in ("digest-timer", "digest"):
        return DigestJob.decode(body)
    if isinstance(body, dict) and body.get("job") in ("group-timer", "repeat-timer", "group"):
        return GroupJob.decode(body)
    return DeliveryJob(Transition.from_dict(body["transition"]), dict(body["action"]), int(body["index"]))


def dead_letter(job: bytes, result: Mapping[str, Any]) -> bytes:
    """A dead letter: the job as it was queued and the last attempt's outcome."""
    return dumps({"job": loads(job), "result": dict(result)})


# -- channels ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ChannelEntry:
    """A channel as the notifier reads it from the channels bucket: `config` includes the secrets (sealed in the
    bucket, opened by the notifier's directory)."""

    tenant: str
    channel_id: str
    name: str
    type: str
    config: dict[str, Any]
    version: int

    def __repr__(self) -> str:  # a stray log or traceback must not print the secrets in `config`
        return f"ChannelEntry({self.tenant!r}, {self.channel_id!r}, {self.name!r}, {self.type!r}, v{self.version})"

    def encode(self) -> bytes:
        return dumps(dict(self.__dict__))

    @classmethod
    def decode(cls, data: bytes) -> ChannelEntry:
        body = loads(data)
        return cls(
            body["tenant"], body["channel_id"], body["name"], body["type"], dict(body["config"]), int(body["version"])
        )
