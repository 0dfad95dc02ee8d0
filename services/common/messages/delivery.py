"""The notifier's messages: delivery, digest and group jobs (CEP_DELIVERY), delivery results (CEP_RESULTS) and the
notifier's dead letters (CEP_DEAD).

- delivery job     `cep.deliver.<tenant>`: one (transition, action); id = transition id + action index
- digest job       `cep.deliver.<tenant>`: a storm digest's timer (`digest-timer`, delayed until the window ends)
                   or one digest to one action's channel (`digest`); ids carry rule and window start
- group job        `cep.deliver.<tenant>`: a group's flush or repeat timer, or one batch of grouped notifications
                   to one action's channel
- delivery result  `cep.results.<tenant>`: one attempt's outcome; id = job id + attempt + status
- dead letter      `cep.dead.<tenant>`: a delivery job that failed for good, with its last result
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter

from services.common.domain.events.model import format_time
from services.common.messages.alerts import Action, WireTransition, action_dict
from services.common.messages.codec import Time, decode, dumps, loads, parsed

DeliveryStatus = Literal["pending", "sent", "failed", "retrying", "suppressed"]


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
    status: DeliveryStatus
    attempt: int
    at: Time
    latency_ms: float | None = None
    status_code: int | None = None
    error: str | None = None
    final: bool = False
    error_kind: str | None = None  # timeout | auth | network | http | config | template | egress
    reason: str | None = None  # why a stage stopped or delayed it (suppressed by the storm budget, ...)
    excerpt: str | None = None  # the start of the response body, where the channel records it (api_call)
    via: str | None = None  # `policy:<route>` when the tenant's notification policy, not a rule action, sent it

    def msg_id(self) -> str:
        return f"{self.transition_id}:{self.action_index}:{self.attempt}:{self.status}"

    def as_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["at"] = format_time(self.at)
        return out

    def encode(self) -> bytes:
        return dumps(self.as_dict())

    @classmethod
    def decode(cls, data: bytes | Mapping[str, Any]) -> DeliveryResult:
        """A delivery result; MessageError naming the field when malformed."""
        return decode(cls, data)


@dataclass(frozen=True)
class DeliveryJob:
    """One (transition, action) to deliver; `index` is the action's position in the rule's `action_spec`."""

    transition: WireTransition
    action: Action
    index: int

    @property
    def tenant(self) -> str:
        return self.transition.tenant

    def msg_id(self) -> str:
        return f"{self.transition.transition_id}:{self.index}"

    def encode(self) -> bytes:
        return dumps({"transition": self.transition.as_dict(), "action": action_dict(self.action), "index": self.index})

    @classmethod
    def decode(cls, data: bytes | Mapping[str, Any]) -> DeliveryJob:
        """A delivery job; MessageError naming the field when malformed."""
        return decode(cls, data)


DigestKind = Literal["digest-timer", "digest"]


@dataclass(frozen=True)
class DigestJob:
    """A storm digest of one rule's budget window: the timer that fires when the window ends, or one digest to
    the channel of action `index` (`text` is the digest message, `window` the counts it reports)."""

    kind: Annotated[DigestKind, Field(alias="job")]
    tenant: str
    rule_id: str
    rule_name: str
    start: float  # the window's start, unix seconds
    due: float  # when the window ends
    index: int = -1
    action: Action | None = None
    text: str = ""
    window: dict[str, Any] | None = None

    def msg_id(self) -> str:
        base = f"digest:{self.tenant}:{self.rule_id}:{self.start:.3f}"
        return base if self.kind == "digest-timer" else f"{base}:{self.index}"

    def encode(self) -> bytes:
        return dumps(_job_body(self))


GroupKind = Literal["group-timer", "repeat-timer", "group"]


@dataclass(frozen=True)
class GroupJob:
    """Grouped notifications of one group of a rule: the flush timer (`group-timer`, set at flush number
    `flushes`), the repeat timer (`repeat-timer`, set by flush `flushes`), or one batch to the channel of
    action `index` (`group`: `members` are transitions as dicts; `repeat` when it is a reminder). A notification
    policy route's group has the route's scope (`policy-0-1`) as its `rule_id`."""

    kind: Annotated[GroupKind, Field(alias="job")]
    tenant: str
    rule_id: str
    group: str  # the group's id (a hash of its labels)
    labels: str
    due: float
    flushes: int
    index: int = -1
    action: Action | None = None
    members: list[dict[str, Any]] | None = None
    dropped: int = 0
    repeat: bool = False
    route_key: str | None = None  # a policy route's group: Alertmanager's key of the route (`{}/{team="db"}`)
    group_labels: dict[str, str] | None = None  # and the labels naming the group (its `groupLabels`)

    def msg_id(self) -> str:
        base = f"group:{self.tenant}:{self.rule_id}:{self.group}:{self.flushes}"
        return f"{base}:{self.kind}" if self.kind != "group" else f"{base}:{self.index}"

    def encode(self) -> bytes:
        return dumps(_job_body(self))


def _job_body(job: DigestJob | GroupJob) -> dict[str, Any]:
    """A timed job's JSON: its kind as `job`, then its fields in order (the action as canonical JSON)."""
    body: dict[str, Any] = {"job": job.kind}
    for f in fields(job):
        if f.name != "kind":
            value = getattr(job, f.name)
            body[f.name] = action_dict(value) if isinstance(value, Action) else value
    return body


Job = DeliveryJob | DigestJob | GroupJob
_DIGEST: TypeAdapter[DigestJob] = TypeAdapter(DigestJob)
_GROUP: TypeAdapter[GroupJob] = TypeAdapter(GroupJob)


def delivery_job_from(data: bytes | Mapping[str, Any]) -> Job:
    """A message of the delivery stream: a (transition, action) job, a digest job or a group job; MessageError
    naming the field when malformed."""
    body = parsed(data)
    kind = body.get("job") if isinstance(body, Mapping) else None
    if kind in ("digest-timer", "digest"):
        return decode(_DIGEST, body)
    if kind in ("group-timer", "repeat-timer", "group"):
        return decode(_GROUP, body)
    return DeliveryJob.decode(body)


def dead_letter(job: bytes, result: Mapping[str, Any]) -> bytes:
    """A dead letter: the job as it was queued and the last attempt's outcome."""
    return dumps({"job": loads(job), "result": dict(result)})
