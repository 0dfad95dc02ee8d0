"""Feed messages (CEP_FEED_<tenant> `cep.feed.<tenant>`): what the live feed streams to SSE clients. The gateway
sends an `acked` one on `cep.acks.<tenant>` too: the ACK notice the notifier reads (`alerts.AckNotice`).

{"type": fired | updated | acked | resolved | notification, "event": the full Event JSON as GET /cep/events/{id}
returns it}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from services.common.messages.codec import decode, dumps

FeedType = Literal["fired", "updated", "acked", "resolved", "notification"]


class FeedEvent(BaseModel):
    """The fields of a feed message's event that readers rely on; the rest is kept as it is."""

    model_config = ConfigDict(frozen=True, extra="allow")

    event_id: str
    tenant: str
    rule_id: str | None = None


class FeedMessage(BaseModel):
    """A feed message: the SSE `event:` name and the event."""

    model_config = ConfigDict(frozen=True)

    type: FeedType
    event: FeedEvent

    def event_json(self) -> dict[str, Any]:
        """The event as it was sent (every field)."""
        return self.event.model_dump(mode="json")

    @classmethod
    def decode(cls, data: bytes | Mapping[str, Any]) -> FeedMessage:
        """A feed message; MessageError naming the field when malformed."""
        return decode(cls, data)


def feed(kind: FeedType, event: Mapping[str, Any]) -> bytes:
    """A feed message: the SSE `event:` name and the full Event JSON as GET /cep/events/{id} returns it."""
    return dumps({"type": kind, "event": event})
