"""Dead letters (CEP_DEAD `cep.dead.<tenant>`): the envelope every service writes, and the notifier's letters.

One JSON envelope per letter, `Nats-Msg-Id` = its id (so a replayed shard reports a failure once):
    {"dead_letter": 1, "id", "tenant", "source", "rule_id", "event", "error", "at",
     "origin": {"stream", "seq", "subject"} | null,
     "replay": {"subject", "data" (base64), "headers"} | null}   <- what a replay republishes, with a new msg id
The notifier writes a failed delivery job as `{"job", "result"}` (messages/delivery.py: `dead_letter`); `decode`
reads both kinds into one `DeadLetter`, validating them: what does not validate is a MessageError naming the field.
Sources and what builds each letter: services/common/nats/dead_letters.py.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator

from services.common.domain.events.model import format_time, parse_time
from services.common.messages.codec import MessageError, Time, dumps, parsed
from services.common.messages.codec import decode as validate
from services.common.nats import subjects

Source = Literal[
    "rule_failure",
    "series_refused",
    "pattern_dropped",
    "undecodable",
    "poison",
    "alert_dropped",
    "max_deliveries",
    "delivery_failed",
]
SOURCES: tuple[str, ...] = Source.__args__  # type: ignore[attr-defined]
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
        """A replay in its wire form (also how SQL rows keep it); MessageError naming the field when malformed."""
        return validate(_WireReplay, body).replay()


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
        return dumps(
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


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True)


class _WireReplay(_Wire):
    subject: str
    data: bytes
    headers: dict[str, str] | None = None

    def replay(self) -> Replay:
        return Replay(self.subject, self.data, dict(self.headers or {}))

    @field_validator("data", mode="before")
    @classmethod
    def _base64(cls, value: Any) -> bytes:
        if not isinstance(value, str):
            raise ValueError("expected base64 text")
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("not valid base64") from None


class _Envelope(_Wire):
    dead_letter: Literal[1]
    id: str
    tenant: str
    source: str
    error: str | None = None
    at: Time
    rule_id: str | None = None
    event: dict[str, Any] | None = None
    origin: dict[str, Any] | None = None
    replay: _WireReplay | None = None

    @field_validator("tenant")
    @classmethod
    def _tenant(cls, value: str) -> str:
        if not subjects.valid_tenant(value):
            raise ValueError(f"not a tenant name: {value!r}")
        return value


class _DeliveryLetter(_Wire):
    job: dict[str, Any]
    result: dict[str, Any] | None


def decode(data: bytes | Mapping[str, Any], msg_id: str | None = None) -> DeadLetter:
    """A dead letter from CEP_DEAD: an envelope, or a notifier letter (`{"job", "result"}`); MessageError otherwise."""
    body = parsed(data)
    if not isinstance(body, dict):
        raise MessageError("message: a dead letter is a JSON object")
    if "dead_letter" in body:
        wire = validate(_Envelope, body)
        return DeadLetter(
            id=wire.id,
            tenant=wire.tenant,
            source=wire.source,
            error=(wire.error or "")[:ERROR_LIMIT],
            at=wire.at,
            rule_id=wire.rule_id,
            event=wire.event,
            origin=wire.origin,
            replay=None if wire.replay is None else wire.replay.replay(),
        )
    if "job" in body:
        return _delivery_letter(validate(_DeliveryLetter, body), msg_id)
    raise MessageError("message: neither a dead-letter envelope (`dead_letter`) nor a notifier letter (`job`)")


def _delivery_letter(letter: _DeliveryLetter, msg_id: str | None) -> DeadLetter:
    job, result = letter.job, letter.result or {}
    found = job.get("transition")
    transition: dict[str, Any] = found if isinstance(found, dict) else {}
    tenant = str(job.get("tenant") or transition.get("tenant") or "")
    if not subjects.valid_tenant(tenant):
        raise MessageError(f"job.tenant: not a tenant name: {tenant!r}")
    rule_id = job.get("rule_id") or transition.get("rule_id")
    at = result.get("at") or transition.get("at")
    return DeadLetter(
        id=letter_id("delivery_failed", tenant, msg_id or dumps(job).decode()),
        tenant=tenant,
        source="delivery_failed",
        error=str(result.get("error") or result.get("status") or "delivery failed")[:ERROR_LIMIT],
        at=_time(at) if at else datetime.fromtimestamp(0, UTC),
        rule_id=None if rule_id is None else str(rule_id),
        event={"transition": transition} if transition else None,
        replay=Replay(subjects.delivery_subject(tenant), dumps(job)),
    )


def _time(value: Any) -> datetime:
    try:
        return parse_time(str(value))
    except ValueError as exc:
        raise MessageError(f"result.at: {exc}") from None
