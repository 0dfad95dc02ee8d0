"""Dead letters (CEP_DEAD `cep.dead.<tenant>`): what could not be processed, kept for an admin to list and replay.

One JSON envelope per letter, `Nats-Msg-Id` = its id (so a replayed shard reports a failure once):
    {"dead_letter": 1, "id", "tenant", "source", "rule_id", "event", "error", "at",
     "origin": {"stream", "seq", "subject"} | null,
     "replay": {"subject", "data" (base64), "headers"} | null}   <- what a replay republishes, with a new msg id
Sources: `rule_failure` (a rule raised on an event), `series_refused` (a rule's new group keys refused by the
active-series quota: one letter per rule and quota at most every minute, with the count), `undecodable` (a message a
consumer could not decode: a work message, an alert, a job, a result, a feed message; the error names the field),
`poison` (a work item the shard could not apply), `alert_dropped` (an alert that could not be published),
`max_deliveries` (a message past its consumer's max_deliver, from JetStream's advisory) and `delivery_failed`
(a notification job that failed for good: the notifier's `{"job", "result"}` letters, read as such).
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from nats.aio.msg import Msg
from nats.js.client import JetStreamContext

from services.common.domain.events.model import format_time, parse_time
from services.common.domain.quotas.series_quota import SeriesRefusals
from services.common.domain.rules.rule_failures import RuleFailure
from services.common.messages import codec
from services.common.nats import subjects

Source = Literal[
    "rule_failure", "series_refused", "undecodable", "poison", "alert_dropped", "max_deliveries", "delivery_failed"
]
log = logging.getLogger(__name__)
SOURCES: tuple[str, ...] = Source.__args__  # type: ignore[attr-defined]
MAX_DELIVERIES_ADVISORY = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES"  # .<stream>.<consumer>
ERROR_LIMIT = 2000


@dataclass(frozen=True)
class Replay:
    """What a replay republishes: the original subject, bytes and headers (the msg id is replaced)."""

    subject: str
    data: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"subject": self.subject, "data": base64.b64encode(self.data).decode(), "headers": dict(self.headers)}

    @classmethod
    def from_dict(cls, body: Mapping[str, Any]) -> Replay:
        return cls(str(body["subject"]), base64.b64decode(body["data"]), dict(body.get("headers") or {}))


@dataclass(frozen=True)
class DeadLetter:
    id: str
    tenant: str
    source: str
    error: str
    at: datetime
    rule_id: str | None = None
    event: dict[str, Any] | None = None
    origin: dict[str, Any] | None = None
    replay: Replay | None = None

    def encode(self) -> bytes:
        return codec.dumps(
            {
                "dead_letter": 1,
                "id": self.id,
                "tenant": self.tenant,
                "source": self.source,
                "rule_id": self.rule_id,
                "event": self.event,
                "error": self.error[:ERROR_LIMIT],
                "at": format_time(self.at),
                "origin": self.origin,
                "replay": None if self.replay is None else self.replay.as_dict(),
            }
        )

    def subject(self) -> str:
        return subjects.dead_subject(self.tenant)


def letter_id(*parts: object) -> str:
    """A stable id from what identifies the failure: `dl-` and 24 hex digits (safe in a URL path)."""
    digest = hashlib.sha256("\x1f".join(str(part) for part in parts).encode()).hexdigest()
    return f"dl-{digest[:24]}"


def rule_failure_letter(failure: RuleFailure, at: datetime) -> DeadLetter:
    """A rule that raised on an event; a replay sends the event's payload in again (ingest, or internal).

    As a new arrival: the event time is the payload's own `timestamp`, else the time of the replay.
    """
    described = failure.describe()
    event = failure.event
    internal = (event.event_type or "").startswith("cep.")
    subject = (subjects.internal_subject if internal else subjects.ingest_subject)(failure.tenant)
    return DeadLetter(
        id=letter_id("rule_failure", failure.tenant, failure.rule_id, failure.event_id),
        tenant=failure.tenant,
        source="rule_failure",
        error=failure.error,
        at=at,
        rule_id=failure.rule_id,
        event=described["event"],
        replay=Replay(subject, codec.dumps(dict(event.payload))),
    )


def series_refused_letter(refusals: SeriesRefusals, shard: int, at: datetime) -> DeadLetter:
    """New series of a rule refused by a quota (counted on the rule like a failure); nothing to replay.

    Each report is its own letter (the id holds its time): the recorder counts every report once.
    """
    return DeadLetter(
        id=letter_id("series_refused", refusals.tenant, refusals.rule_id, refusals.quota, shard, at.isoformat()),
        tenant=refusals.tenant,
        source="series_refused",
        error=refusals.message(),
        at=at,
        rule_id=refusals.rule_id,
        event={"group_key": refusals.last_key, "refused": refusals.count, "quota": refusals.quota},
        origin={"shard": shard},
    )


def decode(data: bytes, msg_id: str | None = None) -> DeadLetter:
    """A dead letter from CEP_DEAD: an envelope, or a notifier letter (`{"job", "result"}`); ValueError otherwise."""
    body = codec.loads(data)
    if not isinstance(body, dict):
        raise ValueError("a dead letter is a JSON object")
    if body.get("dead_letter") == 1:
        replay = body.get("replay")
        return DeadLetter(
            id=str(body["id"]),
            tenant=str(body["tenant"]),
            source=str(body["source"]),
            error=str(body.get("error") or "")[:ERROR_LIMIT],
            at=_time(body["at"]),
            rule_id=body.get("rule_id"),
            event=body.get("event"),
            origin=body.get("origin"),
            replay=None if replay is None else Replay.from_dict(replay),
        )
    if "job" in body and "result" in body:
        return _delivery_letter(body, msg_id)
    raise ValueError("not a dead letter")


def _delivery_letter(body: Mapping[str, Any], msg_id: str | None) -> DeadLetter:
    job, result = body["job"], body["result"] or {}
    if not isinstance(job, dict):
        raise ValueError("a delivery dead letter holds a job object")
    found = job.get("transition")
    transition: dict[str, Any] = found if isinstance(found, dict) else {}
    tenant = str(job.get("tenant") or transition.get("tenant") or "")
    if not subjects.valid_tenant(tenant):
        raise ValueError(f"a delivery dead letter of tenant {tenant!r}")
    rule_id = job.get("rule_id") or transition.get("rule_id")
    at = result.get("at") or transition.get("at")
    return DeadLetter(
        id=letter_id("delivery_failed", tenant, msg_id or codec.dumps(job).decode()),
        tenant=tenant,
        source="delivery_failed",
        error=str(result.get("error") or result.get("status") or "delivery failed")[:ERROR_LIMIT],
        at=_time(at) if at else datetime.fromtimestamp(0, UTC),
        rule_id=None if rule_id is None else str(rule_id),
        event={"transition": transition} if transition else None,
        replay=Replay(subjects.delivery_subject(tenant), codec.dumps(job)),
    )


def _time(value: Any) -> datetime:
    return parse_time(str(value))


PLATFORM_TENANT = "default"  # where a letter goes whose tenant its subject does not name


def undecodable_letter(consumer: str, msg: Msg, reason: str, at: datetime) -> DeadLetter:
    """A message a consumer could not decode (`reason` names the field): kept with its bytes, to look at or
    replay once what reads it is fixed; one letter per stream message (the id holds its stream and sequence)."""
    subject = str(msg.subject)
    try:
        stream, seq = msg.metadata.stream, msg.metadata.sequence.stream
    except Exception:  # not a JetStream message
        stream, seq = None, None
    try:
        body = codec.loads(msg.data or b"")
    except ValueError:
        body = None
    data = msg.data or b""
    shown: dict[str, Any] = {"subject": subject}
    shown.update({"payload": body} if isinstance(body, dict) else {"text": data[:ERROR_LIMIT].decode(errors="replace")})
    tenant = subjects.owning_tenant(subject, body if isinstance(body, dict) else None) or PLATFORM_TENANT
    headers = {k: v for k, v in (msg.headers or {}).items() if k != subjects.MSG_ID}
    return DeadLetter(
        id=letter_id("undecodable", consumer, stream, seq, subject, data if seq is None else ""),
        tenant=tenant,
        source="undecodable",
        error=f"{consumer}: {reason}",
        at=at,
        event=shown,
        origin={"stream": stream, "seq": seq, "subject": subject, "consumer": consumer},
        replay=Replay(subject, data, headers),
    )


async def dead_letter_undecodable(js: JetStreamContext, consumer: str, msg: Msg, reason: str) -> None:
    """Report a message `consumer` could not decode to CEP_DEAD (msg id = letter id); a publish that fails is
    logged and given up: the caller acks the message either way, so a bad message never comes back."""
    letter = undecodable_letter(consumer, msg, reason, datetime.now(UTC))
    log.warning("%s: dead-lettering an undecodable message on %s: %s", consumer, letter.origin, reason)
    try:
        await js.publish(letter.subject(), letter.encode(), headers={subjects.MSG_ID: letter.id}, timeout=2.0)
    except Exception as exc:
        log.error("%s: the dead letter of an undecodable message was not stored: %s", consumer, exc)
