"""Alerts (CEP_ALERTS `cep.alerts.<tenant>`) and ACK notices (CEP_ALERTS `cep.acks.<tenant>`), and the typed
`Action` an alert carries.

- alert       a Transition's JSON plus `actions`, the action spec of the rule version that produced it;
              `Nats-Msg-Id` = transition id
- ACK notice  the feed's `acked` message (feed.py) on the acks subject; id = `ack:<event id>`

`Action` is the rule model's action (one definition for the rule API and the wire); `channel_actions` is the one
reading of which actions notify a channel, by their index in the rule's action spec.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, TypeAdapter, model_validator

from services.common.domain.events.model import parse_time
from services.common.domain.lifecycle.transitions import Transition
from services.common.domain.rules.model import Action
from services.common.messages.codec import Time, decode, dumps

__all__ = [
    "AckNotice",
    "AckedEvent",
    "Action",
    "Alert",
    "WireTransition",
    "action_dict",
    "actions_of",
    "alert",
    "channel_actions",
]

_TIMES = ("at", "started_at", "last_seen")


def _times(value: Any) -> Any:
    """A transition's times parsed as the domain does (RFC 3339 text); pydantic checks the rest field by field."""
    if not isinstance(value, Mapping):
        return value
    out = dict(value)
    for name in _TIMES:
        found = out.get(name)
        if isinstance(found, datetime) or name not in out:
            continue
        if not isinstance(found, str):
            raise ValueError(f"{name}: expected an RFC 3339 time string, got {type(found).__name__}")
        try:
            out[name] = parse_time(found)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    return out


# A transition on the wire: `Transition.as_dict()`'s object.
WireTransition = Annotated[Transition, BeforeValidator(_times), PlainSerializer(lambda t: t.as_dict())]


def action_dict(action: Action) -> dict[str, Any]:
    """An action's JSON as the rule's canonical form writes it (unset fields left out)."""
    return action.model_dump(mode="json", exclude_none=True)


_ACTIONS: TypeAdapter[list[Action]] = TypeAdapter(list[Action])


def actions_of(rule: Mapping[str, Any] | None) -> list[Action]:
    """The typed actions of a rule's canonical JSON (as the notifier reads it from the rules bucket)."""
    return decode(_ACTIONS, list((rule or {}).get("action_spec") or []))


def channel_actions(actions: Sequence[Action]) -> list[tuple[int, Action, str]]:
    """(index in the action spec, action, channel name or id) of each action that notifies a channel."""
    return [(index, action, action.channel) for index, action in enumerate(actions) if action.channel]


class Alert(BaseModel):
    """An alert: the transition and the actions of the rule version that produced it (flat on the wire)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    transition: WireTransition
    actions: list[Action] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _flat(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "transition" not in data:
            return {"transition": data, "actions": data.get("actions") or []}
        return data

    def encode(self) -> bytes:
        return alert(self.transition, [action_dict(a) for a in self.actions])

    @classmethod
    def decode(cls, data: bytes | Mapping[str, Any]) -> Alert:
        """An alert message; MessageError naming the field when malformed."""
        return decode(cls, data)


class AckedEvent(BaseModel):
    """The event of an ACK notice (the Event JSON as the feed carries it): what the notifier relies on is typed,
    the other fields are kept as they are."""

    model_config = ConfigDict(frozen=True, extra="allow")

    event_id: str
    tenant: str
    rule_id: str
    fired_at: Time
    acked_at: Time | None = None
    last_seen: Time | None = None
    fingerprint: str | None = None
    payload: dict[str, Any] | None = None

    def field(self, name: str) -> Any:
        """An untyped field of the event (None when absent)."""
        return (self.model_extra or {}).get(name)


class AckNotice(BaseModel):
    """An ACK notice on `cep.acks.<tenant>`: the feed message of an acknowledged event (only `acked` counts)."""

    model_config = ConfigDict(frozen=True)

    type: str
    event: AckedEvent

    @classmethod
    def decode(cls, data: bytes | Mapping[str, Any]) -> AckNotice:
        """An ACK notice; MessageError naming the field when malformed."""
        return decode(cls, data)


def alert(transition: Transition, actions: Sequence[Mapping[str, Any]]) -> bytes:
    """An alert message: the transition and the actions (canonical JSON) of the rule version that produced it."""
    return dumps({**transition.as_dict(), "actions": list(actions)})
