"""The tenant's raw events of a time range, read back from the event stream (CEP_EVENTS keeps them 7 days).

What a backtest over "stored events" replays: the items producers sent (`cep.ingest.<tenant>`) and the
platform's own events (`cep.internal.<tenant>`: polled metric samples, schedule runs), decoded as the router
decodes them, in stream order. Trigger requests are left out (they reach one rule, not every rule). The range
is on the time the stream stored each message (when the platform received it), not on the items' own
timestamps: a backfill sent today with last week's timestamps is in today's range. An item's event time
(what the engine sees) is its `timestamp`, else its arrival.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime

import nats.errors
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from services.common.domain.events.intake import NotJson, parse_body
from services.common.domain.events.model import parse_time
from services.common.nats import subjects
from services.gateway.nats.bus import GatewayBus
from services.gateway.rest.problems import Problem

BATCH = 500
FETCH_SECONDS = 0.5  # an empty range answers after this wait per subject
INACTIVE_SECONDS = 30.0  # the server drops a consumer the gateway could not delete


class TooManyEvents(Exception):
    """The range holds more events than the caller can take."""


@dataclass(frozen=True)
class StoredEvent:
    """One stored item: its payload and event time (the payload's `timestamp`, else its arrival)."""

    payload: dict[str, object]
    time: datetime
    event_type: str | None


async def read_stored_events(
    bus: GatewayBus, tenant: str, since: datetime, until: datetime, limit: int
) -> list[StoredEvent]:
    """The tenant's events stored between `since` and `until`, in stream order (TooManyEvents past `limit`)."""
    found: list[tuple[int, StoredEvent]] = []
    for subject in (subjects.ingest_subject(tenant), subjects.internal_subject(tenant)):
        try:
            found += await _read_subject(bus, subject, since, until, limit - len(found))
        except nats.errors.Error as exc:
            detail = f"the stored events could not be read ({type(exc).__name__}: {exc}); retry shortly"
            raise Problem(503, detail, kind="unavailable") from None
    return [event for _, event in sorted(found, key=lambda pair: pair[0])]


async def _read_subject(
    bus: GatewayBus, subject: str, since: datetime, until: datetime, limit: int
) -> list[tuple[int, StoredEvent]]:
    config = ConsumerConfig(
        ack_policy=AckPolicy.NONE,
        deliver_policy=DeliverPolicy.BY_START_TIME,
        opt_start_time=since,
        inactive_threshold=INACTIVE_SECONDS,
        mem_storage=True,
        num_replicas=1,
    )
    sub = await bus.js.pull_subscribe(subject, stream=subjects.EVENTS_STREAM, config=config)
    out: list[tuple[int, StoredEvent]] = []
    try:
        while True:
            try:
                msgs = await sub.fetch(BATCH, timeout=FETCH_SECONDS)
            except (nats.errors.TimeoutError, TimeoutError):
                return out  # nothing stored after the last message read
            for msg in msgs:
                if msg.metadata.timestamp is not None and msg.metadata.timestamp > until:
                    return out
                out += [(msg.metadata.sequence.stream, event) for event in _decode(msg, subject)]
                if len(out) > limit:
                    raise TooManyEvents(f"more than {limit} events")
                if msg.metadata.num_pending == 0:
                    return out
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(sub.unsubscribe(), 2.0)


def _decode(msg: Msg, subject: str) -> list[StoredEvent]:
    headers = msg.headers or {}
    internal = subject.startswith(subjects.INTERNAL_PREFIX + ".")
    if internal and headers.get(subjects.TRIGGER_RULE):
        return []
    arrival = msg.metadata.timestamp
    stamp = headers.get(subjects.RECEIVED_AT)
    with contextlib.suppress(ValueError):
        arrival = parse_time(stamp) if stamp else arrival
    assert arrival is not None
    try:
        intake = parse_body(msg.data, headers.get(subjects.CONTENT_TYPE), arrival, allow_reserved=internal)
    except NotJson:
        return []
    return [StoredEvent(dict(item.payload), item.time, item.event_type) for item in intake.items]
