"""Events routes: the list, one event, ACK, feedback, and the live SSE stream (registered before `{event_id}`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.types import Receive, Scope, Send

from services.common.domain.labels.label_set import is_valid_name
from services.common.domain.rules.model import Severity
from services.common.domain.rules.triggers import TriggerType
from services.gateway import row_codec
from services.gateway.auth import Principal, editor, require, viewer
from services.gateway.live.feed_reader import FeedReader
from services.gateway.muting_now import NOT_MUTED, MutingNow, muting_now
from services.gateway.quota_limits import over_quota
from services.gateway.rest.paging import Cursor, Limit, Page, decode_time_cursor, time_cursor
from services.gateway.rest.problems import invalid_field, not_found
from services.gateway.rest.times import UtcTime
from services.gateway.schemas.events import (
    AckBody,
    EventRecord,
    EventRecordList,
    EventStatus,
    FeedbackBody,
    FeedbackFilter,
    NotificationStatus,
)
from services.gateway.state import state_of
from services.gateway.store import audit
from services.gateway.store import events as store

router = APIRouter(tags=["events"])
stream_viewer = require("viewer", allow_query_token=True, allow_ticket=True)
MAX_LABEL_FILTERS = 20  # `label` filters in one query
MAX_LABEL_FILTER = 2_048  # characters of one `label` filter (a name and a value)
STREAM_RETRY_SECONDS = 5  # Retry-After of a stream refused over the tenant's quota
_EVENT: dict[int | str, dict[str, Any]] = {200: {"model": EventRecord, "description": "the event"}}
_STREAM: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "`text/event-stream`: `id:` feed sequence, `event:` fired|updated|acked|resolved|notification, "
        "`data:` the full Event JSON; a keep-alive comment at least every 15 s",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


@router.get("/cep/events", responses={200: {"model": EventRecordList, "description": "events, newest first"}})
async def list_events(
    request: Request,
    principal: Principal = Depends(viewer),
    rule_id: Annotated[str | None, Query(max_length=64)] = None,
    severity: Severity | None = None,
    status: EventStatus | None = None,
    since: Annotated[UtcTime | None, Query(description="RFC 3339; events fired at or after it")] = None,
    until: Annotated[UtcTime | None, Query(description="RFC 3339; events fired at or before it")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
    trigger_type: TriggerType | None = None,
    acked: Annotated[bool | None, Query(description="acknowledged (true) or not (false)")] = None,
    feedback: Annotated[FeedbackFilter | None, Query(description="the precision label, `any` or `none`")] = None,
    notification_status: Annotated[
        NotificationStatus | None, Query(description="events with a notification in this status")
    ] = None,
    channel: Annotated[
        str | None, Query(max_length=200, description="events with a notification to this channel (id or name)")
    ] = None,
    label: Annotated[
        list[str] | None,
        Query(
            description=f"`name=value`: events with this label, exactly (repeatable, at most {MAX_LABEL_FILTERS})",
        ),
    ] = None,
) -> Response:
    """The tenant's events, newest first (by `fired_at`), filtered by rule, severity, status and time.

    Extensions: `trigger_type`, `acked`, `feedback`, `notification_status`/`channel` (one notification entry
    matching both) and `label` (`team=sre`, repeatable: every one must hold); the stats routes' figures link here.
    """
    before = decode_time_cursor(cursor) if cursor else None
    filters = store.EventFilter(
        rule_id,
        severity,
        status,
        _utc(since),
        _utc(until),
        trigger_type,
        acked,
        feedback,
        notification_status,
        channel,
        label_filters(label or []),
    )
    async with state_of(request).db.read() as session:
        rows, total = await store.list_events(session, principal.tenant, filters, limit, before)
        muting = await _muting(request, session, principal.tenant, rows)
    last = rows[-1] if len(rows) == limit else None
    next_cursor = time_cursor(last.fired_at, last.event_id) if last else None
    return JSONResponse(Page([_with_muting(r, muting) for r in rows], total, next_cursor).as_dict())


async def _muting(request: Request, session: Any, tenant: str, rows: list[Any]) -> MutingNow | None:
    """The query-time muting of the tenant's open events, when any of `rows` is open (muting_now.py)."""
    if all(row.resolved_at is not None for row in rows):
        return None
    limit = state_of(request).settings.preview_open_events
    return await muting_now(session, tenant, limit, datetime.now(UTC), events_needed=False)


def _with_muting(row: Any, muting: MutingNow | None) -> dict[str, Any]:
    """The Event JSON with `silenced_by` (silence ids) and `inhibited_by` (event ids) of this moment."""
    state = muting.of(row.event_id) if muting is not None else NOT_MUTED
    return {
        **row_codec.event_json(row),
        "silenced_by": list(state.silenced_by),
        "inhibited_by": list(state.inhibited_by_events),
    }


def label_filters(raw: list[str]) -> tuple[tuple[str, str], ...]:
    """`?label=name=value` pairs; a 422 naming `label` for one without `=`, with a bad name, or too many."""
    if len(raw) > MAX_LABEL_FILTERS:
        raise invalid_field(("label",), f"at most {MAX_LABEL_FILTERS} label filters")
    pairs = []
    for item in raw:
        if len(item) > MAX_LABEL_FILTER:
            raise invalid_field(("label",), f"a label filter is at most {MAX_LABEL_FILTER} characters")
        name, sep, value = item.partition("=")
        if not sep or not is_valid_name(name):
            raise invalid_field(("label",), f"expected name=value with a label name, got {item!r}")
        pairs.append((name, value))
    return tuple(pairs)


def _start_after(header: str | None, query: str | None) -> int | None:
    raw, name = (header, "Last-Event-ID") if header is not None else (query, "last_event_id")
    if raw is None or raw.strip() == "":
        return None
    if not raw.strip().isdigit():
        raise invalid_field((name,), "expected the `id:` of a message of this stream (a non-negative integer)")
    return int(raw.strip())


class StreamTicket(BaseModel):
    """A single-use ticket for `GET /cep/events/stream?ticket=`, valid until `expires_at`."""

    ticket: str
    expires_at: str


# Static, so before any parameterised /cep/events/{event_id}/... route that could take "stream" for an id.
@router.post(
    "/cep/events/stream/ticket", responses={200: {"model": StreamTicket, "description": "a ticket for one stream"}}
)
async def stream_ticket(request: Request, principal: Principal = Depends(viewer)) -> Response:
    """A short-lived ticket that opens the caller's event stream once (`?ticket=`), so the EventSource URL, which
    proxies log, never holds the API token. It carries the token's tenant and role; any role may ask for one."""
    tickets = state_of(request).stream_tickets
    ticket, expires_at = tickets.issue(principal.tenant, principal.role, principal.token_id, datetime.now(UTC))
    return JSONResponse({"ticket": ticket, "expires_at": row_codec.rfc3339(expires_at)})


class _CountedStream(EventSourceResponse):
    """An event stream that gives its place back (the tenant's `sse_streams` quota) when it ends, however it ends."""

    def __init__(self, content: AsyncIterator[ServerSentEvent], ping: float, give_back: Callable[[], None]) -> None:
        super().__init__(content, ping=ping)
        self._give_back = give_back

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._give_back()


async def _stream_place(request: Request, tenant: str) -> Callable[[], None]:
    """A place among the tenant's open streams on this replica, or 429 past its `sse_streams` quota."""
    limit = (await state_of(request).quotas.of(tenant)).sse_streams
    give_back = state_of(request).stream_slots.take(tenant, limit)
    if give_back is None:
        held = state_of(request).stream_slots.open(tenant)
        detail = (
            f"tenant {tenant!r} has {held} SSE streams open, its quota `sse_streams` is {limit} (counted per "
            "gateway replica): close one, or retry later"
        )
        raise over_quota(tenant, "sse_streams", detail, {"Retry-After": str(STREAM_RETRY_SECONDS)})
    return give_back


@router.get("/cep/events/stream", response_class=EventSourceResponse, responses=_STREAM)
async def stream_events(
    request: Request,
    principal: Principal = Depends(stream_viewer),
    last_event_id_header: Annotated[str | None, Header(alias="Last-Event-ID", max_length=32)] = None,
    last_event_id: Annotated[str | None, Query(max_length=32, description="like the Last-Event-ID header")] = None,
    ticket: Annotated[
        str | None, Query(max_length=1024, description="a ticket from POST /cep/events/stream/ticket (EventSource)")
    ] = None,
    access_token: Annotated[
        str | None, Query(description="the bearer token, for older EventSource clients: prefer `ticket`")
    ] = None,
) -> EventSourceResponse:
    """Live changes of the tenant's events; resume with `Last-Event-ID` (every later message, none before).

    At most the tenant's `sse_streams` quota of streams are open at once on each gateway replica (429 past it).
    """
    after = _start_after(last_event_id_header, last_event_id)
    give_back = await _stream_place(request, principal.tenant)
    try:
        reader = FeedReader(state_of(request).bus, state_of(request).feed, principal.tenant, after)
        await reader.open()  # before the response starts: a NATS outage is still a 503 problem
    except BaseException:
        give_back()
        raise

    async def messages() -> AsyncIterator[ServerSentEvent]:
        async for message in reader.messages():
            yield ServerSentEvent(data=message.data, event=message.kind, id=str(message.seq))

    keepalive = state_of(request).settings.sse_keepalive_seconds
    return _CountedStream(messages(), keepalive, give_back)


@router.get("/cep/events/{event_id}", responses=_EVENT)
async def get_event(request: Request, event_id: str, principal: Principal = Depends(viewer)) -> Response:
    """One event of the tenant (404 for any other id)."""
    async with state_of(request).db.read() as session:
        row = await store.get_event(session, principal.tenant, event_id)
        muting = None if row is None else await _muting(request, session, principal.tenant, [row])
    if row is None:
        raise not_found(f"event {event_id!r}")
    return JSONResponse(_with_muting(row, muting))


@router.post("/cep/events/{event_id}/ack", responses=_EVENT)
async def ack_event(
    request: Request, event_id: str, body: AckBody | None = None, principal: Principal = Depends(editor)
) -> Response:
    """Acknowledge an event: status `acked`, who and when, a history entry; a second ACK changes nothing."""
    note = body.note if body else None
    now = datetime.now(UTC)
    feed = state_of(request).feed
    async with feed.lock:
        async with state_of(request).db.write() as session:
            row, item = await store.acknowledge(session, principal.tenant, event_id, principal.name, note, now)
            if item is not None and row is not None:
                await _audit(session, principal, event_id, "ack", {"status": row.status, "note": note}, now)
        if row is None:
            raise not_found(f"event {event_id!r}")
        if item is not None:
            await feed.publish_quietly([item])  # committed either way; the recorder's sweep retries a failure
    return await _event_response(request, principal.tenant, row)


@router.post("/cep/events/{event_id}/feedback", responses=_EVENT)
async def event_feedback(
    request: Request, event_id: str, body: FeedbackBody, principal: Principal = Depends(editor)
) -> Response:
    """Label an event a true or false positive (the latest label counts)."""
    now = datetime.now(UTC)
    async with state_of(request).db.write() as session:
        row = await store.set_feedback(session, principal.tenant, event_id, body.label, body.note, principal.name, now)
        if row is not None:
            await _audit(session, principal, event_id, "feedback", {"label": body.label, "note": body.note}, now)
    if row is None:
        raise not_found(f"event {event_id!r}")
    return await _event_response(request, principal.tenant, row)


async def _event_response(request: Request, tenant: str, row: Any) -> JSONResponse:
    """An Event as GET /cep/events/{event_id} answers it, with its muting of this moment."""
    async with state_of(request).db.read() as session:
        muting = await _muting(request, session, tenant, [row])
    return JSONResponse(_with_muting(row, muting))


async def _audit(
    session: Any, principal: Principal, event_id: str, action: str, change: dict[str, Any], now: datetime
) -> None:
    """An audit row for an operator's action on an event, in the same transaction as the action."""
    await audit.record(
        session,
        tenant=principal.tenant,
        actor=principal.actor,
        kind="event",
        resource_id=event_id,
        action=action,
        change=change,
        at=now,
    )
