"""`POST /cep/ingest`: validate a body of events and answer 202 only once every accepted item is in JetStream."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from nats.aio.client import Client
from pydantic import BaseModel, Field

from services.common.domain.events.intake import Intake, Item, NotJson, Reject, parse_body
from services.common.domain.events.model import format_time
from services.common.domain.events.rate_limit import RateLimiter, retry_after_header
from services.common.domain.ingest_formats.flat_events import EventTooLarge, json_batches
from services.common.domain.quotas.tenant_quotas import TenantQuotas, how_to_raise
from services.common.ingest_metrics import INGEST_EVENTS
from services.common.nats import subjects
from services.common.nats.publishing import Outgoing, PublishFailed, item_limit, publish_all
from services.common.tracing.propagation import TRACEPARENT, inject
from services.common.tracing.spans import current_span
from services.gateway.auth import Principal, editor
from services.gateway.rest.problems import Problem, malformed
from services.gateway.state import state_of

log = logging.getLogger(__name__)
router = APIRouter(tags=["events"])
STARTUP_WAIT_SECONDS = 2.0


class IngestReject(BaseModel):
    """One refused item: its 0-based position in the body and why."""

    index: int
    error: str


class IngestReply(BaseModel):
    """The answer of an ingest: how many items are durable, which were refused, and the ids given to the others."""

    accepted: int
    rejected: list[IngestReject]
    event_ids: list[str] = Field(description="the id of each accepted item, in body order")


_BODY = {
    "requestBody": {
        "required": True,
        "description": "one JSON object, a JSON array of objects, or NDJSON (one object per line); "
        "optional `timestamp` (RFC 3339 or epoch seconds/ms) and `event_type` in each",
        "content": {
            "application/json": {
                "schema": {"oneOf": [{"type": "object"}, {"type": "array", "items": {"type": "object"}}]}
            },
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
    }
}


@router.post(
    "/cep/ingest",
    status_code=202,
    openapi_extra=_BODY,
    responses={
        202: {"model": IngestReply, "description": "every accepted item is durable in JetStream"},
        429: {"description": "the tenant's ingest rate limit is exhausted; nothing was ingested (see Retry-After)"},
    },
)
async def ingest(request: Request, principal: Principal = Depends(editor)) -> Response:
    """Ingest events for the caller's tenant: each item is validated on its own; invalid ones are listed."""
    arrival = datetime.now(UTC)
    try:
        intake = parse_body(await request.body(), request.headers.get("content-type"), arrival)
    except NotJson as exc:
        raise malformed(str(exc)) from None
    if not intake.items:
        return _reply(0, intake.rejected, [])
    # Spans start a trace of their own (a client's traceparent is linked): a client never picks our trace ids.
    with current_span("cep.ingest", {"cep.tenant": principal.tenant}, [request.headers.get(TRACEPARENT)]) as span:
        await admit(request, principal.tenant, len(intake.items))
        nc = await bus_client(request)
        outgoing, rejected = _messages(intake, principal.tenant, arrival, item_limit(nc))
        if span is not None:
            span.set_attribute("cep.events", len(outgoing))
            if len(outgoing) == 1:
                span.set_attribute("cep.event_id", outgoing[0].msg_id)
        await publish_durably(request, principal.tenant, outgoing, len(outgoing))
    return _reply(len(outgoing), rejected, [m.msg_id for m in outgoing])


async def ingest_batch(request: Request, tenant: str, events: Sequence[Mapping[str, Any]], batch_key: bytes) -> None:
    """Make a batch of events durable all together, or answer an error with nothing of it accepted.

    The path of `POST /cep/ingest` (the tenant's quota, then PubAcks before the answer) for the Prometheus and
    OTLP routes: the events go as JSON arrays, as few messages as the bus allows, with message ids derived from
    the tenant and `batch_key` (the request body), so a client retrying after a 503 stores no event twice within
    JetStream's duplicate window. An event too large for the bus refuses the whole batch (413).
    """
    if not events:
        return
    await admit(request, tenant, len(events))
    nc = await bus_client(request)
    try:
        bodies = json_batches(events, item_limit(nc))
    except EventTooLarge as exc:
        raise Problem(413, f"{exc}; nothing of this request was ingested", kind="too-large") from None
    digest = hashlib.sha256(tenant.encode() + b"\0" + batch_key).hexdigest()[:32]
    subject = subjects.ingest_subject(tenant)
    with current_span("cep.ingest", {"cep.tenant": tenant, "cep.events": len(events)}):
        headers = inject({subjects.RECEIVED_AT: format_time(datetime.now(UTC))})
        outgoing = [Outgoing(subject, body, f"{digest}-{i}", headers) for i, body in enumerate(bodies)]
        await publish_durably(request, tenant, outgoing, len(events), batch=True)
    INGEST_EVENTS.labels("accepted").inc(len(events))


async def bus_client(request: Request) -> Client:
    """The gateway's NATS connection; just after start-up it waits a moment, then the 503 problem while NATS is down."""
    bus = state_of(request).bus
    if not bus.is_ready:
        with contextlib.suppress(TimeoutError):
            await bus.wait_ready(timeout=STARTUP_WAIT_SECONDS)
    return bus.client


async def publish_durably(
    request: Request, tenant: str, outgoing: list[Outgoing], events: int, *, batch: bool = False
) -> None:
    """Publish every message and return once each PubAck arrived; a 503 problem (retry) when NATS failed."""
    bus = state_of(request).bus
    try:
        await publish_all(bus.js, bus.client, outgoing)
    except PublishFailed as exc:
        INGEST_EVENTS.labels("unavailable").inc(events)
        log.warning("ingest failed: %s", exc, extra={"tenant": tenant})
        raise _unavailable(exc, batch) from None


class IngestLimits:
    """The token buckets of POST /cep/ingest in this replica: one limiter per distinct (rate, burst), so a tenant
    whose quota changes moves to a fresh, full bucket at the new rate."""

    def __init__(self) -> None:
        self._limiters: dict[tuple[float, int], RateLimiter] = {}

    def take(self, tenant: str, count: int, quotas: TenantQuotas, now: float) -> float:
        """0.0 when `count` events of the tenant pass now, else the seconds to wait (a rate of 0: no limit)."""
        if not quotas.ingest_rate:
            return 0.0
        key = (quotas.ingest_rate, quotas.ingest_burst)
        limiter = self._limiters.get(key)
        if limiter is None:
            limiter = self._limiters[key] = RateLimiter(*key)
        return limiter.take(tenant, count, now)


async def admit(request: Request, tenant: str, count: int) -> None:
    """The tenant's ingest quota: the whole body passes, or nothing is ingested and the caller is told when to retry."""
    quotas = await state_of(request).quotas.of(tenant)
    wait = state_of(request).ingest_limits.take(tenant, count, quotas, time.monotonic())
    if wait > 0:
        INGEST_EVENTS.labels("rate_limited").inc(count)
        detail = (
            f"the tenant's ingest rate limit ({quotas.ingest_rate:g} events/s, bursts of {quotas.ingest_burst}, "
            f"quota `ingest_rate`) is exhausted; nothing of this body was ingested; retry after "
            f"{retry_after_header(wait)} s; {how_to_raise('ingest_rate', tenant)}"
        )
        raise Problem(429, detail, kind="rate_limited", headers={"Retry-After": retry_after_header(wait)})


def _messages(intake: Intake, tenant: str, arrival: datetime, limit: int) -> tuple[list[Outgoing], list[Reject]]:
    """One message per accepted item (a fresh event id each); items too large for the bus join the rejects."""
    subject = subjects.ingest_subject(tenant)
    headers = inject({subjects.RECEIVED_AT: format_time(arrival)})  # the current span's context, when tracing
    outgoing: list[Outgoing] = []
    too_large: list[Reject] = []
    for item in intake.items:
        payload = _encode(item)
        if len(payload) > limit:
            too_large.append(Reject(item.index, f"the item is {len(payload)} bytes; the limit is {limit}"))
            continue
        outgoing.append(Outgoing(subject, payload, uuid.uuid4().hex, headers))
    rejected = sorted([*intake.rejected, *too_large], key=lambda r: r.index)
    return outgoing, rejected


def _encode(item: Item) -> bytes:
    return orjson.dumps(item.payload)


def _reply(accepted: int, rejected: list[Reject], event_ids: list[str]) -> Response:
    INGEST_EVENTS.labels("accepted").inc(accepted)
    INGEST_EVENTS.labels("rejected").inc(len(rejected))
    body = {"accepted": accepted, "rejected": [r.as_dict() for r in rejected], "event_ids": event_ids}
    return JSONResponse(body, status_code=202)


def _unavailable(exc: PublishFailed, batch: bool) -> Problem:
    if batch:
        detail = (
            f"the message bus (NATS) failed during the ingest: {exc.persisted} of {exc.total} messages of this "
            "batch were confirmed durable before it did; retry the same body (what was stored is not stored twice)"
        )
    else:
        detail = (
            f"the message bus (NATS) failed during the ingest: {exc.persisted} of {exc.total} valid items were "
            "confirmed durable before it did, the others may be lost; retry the request "
            "(the confirmed items are then ingested again under new event ids)"
        )
    return Problem(503, detail, kind="unavailable", headers={"Retry-After": "1"})
