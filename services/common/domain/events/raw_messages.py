"""The events of one message of the raw event stream, read the same way by the router and by the shards.

The router reads a message to decide where its events go, then forwards the message's bytes as stored; the shard
reads them again with the same function, so both see the same events, in the same order, with the same ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from services.common.domain.events.intake import BadLine, Item, NotJson, check_item, split_body, to_event
from services.common.domain.events.model import Event


class RawMessage(NamedTuple):
    """A raw-stream message as far as its events go (a tuple: shards build one per message they read).

    `internal`: it came on the platform's own subject (`cep.*` event types allowed). `msg_id`: its
    `Nats-Msg-Id`, if any. `received`: its arrival (the `Cep-Received-At` header, else its stored time).
    """

    seq: int
    tenant: str
    internal: bool
    data: bytes
    content_type: str | None
    msg_id: str | None
    received: datetime


@dataclass(frozen=True)
class Refused:
    """An item of a raw message that is not an event, by the id it would have had, and why."""

    event_id: str
    error: str


def read_events(raw: RawMessage) -> tuple[list[Event], list[Refused]]:
    """The valid events of a message (an object, an array or NDJSON) in order, and the refused items.

    An event's raw position is its index in the first list. Its id is the message's base id (`base_id`), with
    `.<item index>` appended when the message holds several items.
    """
    base = base_id(raw)
    try:
        values = split_body(raw.data, raw.content_type)
    except NotJson as exc:
        return [], [Refused(base, str(exc))]
    events: list[Event] = []
    refused: list[Refused] = []
    for index, value in enumerate(values):
        event_id = base if len(values) == 1 else f"{base}.{index}"
        item: Item | str = (
            value.error
            if isinstance(value, BadLine)
            else check_item(value, raw.received, index=index, allow_reserved=raw.internal)
        )
        if isinstance(item, str):
            refused.append(Refused(event_id, item))
            continue
        events.append(to_event(item, event_id=event_id, tenant=raw.tenant, received_at=raw.received))
    return events, refused


def base_id(raw: RawMessage) -> str:
    """The producer's `Nats-Msg-Id`, else the stream sequence: the same on every replay.

    A NATS producer's id arrives scoped to its tenant (`<tenant>/<id>`, services/ingest/producers.py, so tenants
    never de-duplicate each other's events); the event keeps the id the producer chose.
    """
    if not raw.msg_id:
        return str(raw.seq)
    return raw.msg_id.removeprefix(f"{raw.tenant}/")
