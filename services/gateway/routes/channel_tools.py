"""Channel tools: the type catalogue, per-channel delivery status, and channel tests (run by the notifier)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import nats.errors
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.common.db.tables import ChannelRow, EventRow
from services.common.domain.notify.channel_types import TYPES, timeout_seconds
from services.common.domain.notify.templates import TemplateError, render, template_context
from services.common.messages import codec
from services.common.messages.channels import ChannelEntry
from services.common.nats import subjects
from services.common.secrets.channel_sealing import sealed_config
from services.common.template_pool import off_loop
from services.gateway.auth import Principal, editor, viewer
from services.gateway.publishers.channel_publisher import entry_of
from services.gateway.rest.bodies import read_object
from services.gateway.rest.paging import Limit
from services.gateway.rest.problems import Problem, invalid_field, not_found
from services.gateway.routes.channels import parse
from services.gateway.state import state_of
from services.gateway.store import channels as store

router = APIRouter(tags=["channels"])
STATUS_WINDOW = timedelta(days=7)
_TEST_KEYS = frozenset({"channel", "type", "config", "name", "message"})


class ChannelTypeList(BaseModel):
    """Every channel type with its config fields: `required`, `secret` (write-only), `default`."""

    items: list[dict[str, Any]]
    total: int
    next_cursor: str | None = None


class ChannelTestBody(BaseModel):
    """`{"channel": id-or-name}` for a saved channel, or `{"type","config"}` for a draft; `message` is a template."""

    channel: str | None = None
    type: str | None = None
    config: dict[str, Any] | None = None
    message: str | None = Field(default=None, description="optional: rendered against a sample event first")


class ChannelTestError(BaseModel):
    kind: str = Field(description="timeout | auth | network | http | template | config | egress")
    detail: str


class ChannelTestResult(BaseModel):
    ok: bool
    status_code: int | None
    latency_ms: float | None
    error: ChannelTestError | None


class ChannelStatusList(BaseModel):
    """Per channel: last test, and delivery counts over events fired since `since` (default: 7 days)."""

    items: list[dict[str, Any]]
    total: int
    next_cursor: str | None = None


@router.get("/cep/channels/types", responses={200: {"model": ChannelTypeList, "description": "channel types"}})
async def channel_types(_: Principal = Depends(viewer)) -> Response:
    """Each channel type, whether this build delivers it yet, and its config fields."""
    items = [t.as_dict() for t in TYPES.values()]
    return JSONResponse({"items": items, "total": len(items), "next_cursor": None})


@router.get("/cep/channels/status", responses={200: {"model": ChannelStatusList, "description": "channel status"}})
async def channel_status(
    request: Request,
    principal: Principal = Depends(viewer),
    since: Annotated[datetime | None, Query(description="RFC 3339; count deliveries of events fired since")] = None,
    limit: Limit = 1000,
) -> Response:
    """Per channel: the last test (at, ok, error), sent and failed deliveries, failure rate and last error."""
    start = since or datetime.now(UTC) - STATUS_WINDOW
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    async with state_of(request).db.read() as session:
        channels, total = await store.list_channels(session, principal.tenant, limit, None)
        counts = await _delivery_counts(session, principal.tenant, start)
    items = [_status(row, counts) for row in channels]
    return JSONResponse({"items": items, "total": total, "next_cursor": None, "since": _time(start)})


def _status(row: ChannelRow, counts: dict[str, Any]) -> dict[str, Any]:
    tally: Counter[str] = counts["tally"].get(row.channel_id, Counter())
    sent, failed = tally["sent"], tally["failed"]
    last = counts["last_error"].get(row.channel_id)
    test = None
    if row.last_test_at is not None:
        test = {"at": _time(row.last_test_at), "ok": row.last_test_ok, "error": row.last_test_error}
    return {
        "channel_id": row.channel_id,
        "name": row.name,
        "type": row.type,
        "last_test": test,
        "sent": sent,
        "failed": failed,
        "retrying": tally["retrying"],
        "failure_rate": round(failed / (sent + failed), 4) if sent + failed else None,
        "last_error": last[1] if last else None,
        "last_error_at": last[0] if last else None,
    }


async def _delivery_counts(session: AsyncSession, tenant: str, since: datetime) -> dict[str, Any]:
    """Tally the `notifications[]` of the tenant's events fired since `since`, by channel id."""
    query = select(col(EventRow.notifications)).where(col(EventRow.tenant) == tenant, col(EventRow.fired_at) >= since)
    tally: dict[str, Counter[str]] = {}
    last_error: dict[str, tuple[str, str]] = {}
    for (notifications,) in await session.execute(query):
        for entry in notifications or []:
            channel_id = entry.get("channel_id")
            if not channel_id:
                continue
            tally.setdefault(channel_id, Counter())[str(entry.get("status"))] += 1
            at, error = entry.get("last_attempt_at"), entry.get("last_error")
            if error and at and (channel_id not in last_error or at > last_error[channel_id][0]):
                last_error[channel_id] = (at, error)
    return {"tally": tally, "last_error": last_error}


@router.post(
    "/cep/channels/test",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": ChannelTestBody.model_json_schema()}},
        }
    },
    responses={200: {"model": ChannelTestResult, "description": "the outcome (a failed test is ok:false)"}},
)
async def test_channel(request: Request, principal: Principal = Depends(editor)) -> Response:
    """Send a sample event through a saved channel or a draft config now; a saved channel records the outcome."""
    data = await read_object(request)
    for key in data:
        if key not in _TEST_KEYS:
            raise invalid_field((str(key),), "unknown field")
    row = await _saved(request, principal, data) if "channel" in data else None
    box = state_of(request).secret_box  # the request to the notifier carries the secrets sealed, as the bucket does
    if row is not None:
        entry = entry_of(row, box)
    else:
        spec = parse({"name": data.get("name") or "draft", "type": data.get("type"), "config": data.get("config")})
        config = sealed_config(box, spec.type, spec.config, spec.secrets)
        entry = ChannelEntry(principal.tenant, "draft", spec.name, spec.type, config, 0)
    answer = await off_loop(_render_check, data.get("message"), entry) or await _ask_notifier(request, entry)
    if row is not None:
        async with state_of(request).db.write() as session:
            ok, error = bool(answer.get("ok")), answer.get("error")
            await store.record_test(session, row.tenant, row.channel_id, datetime.now(UTC), ok, error)
    return JSONResponse(answer)


async def _saved(request: Request, principal: Principal, data: dict[str, Any]) -> ChannelRow:
    ref = data["channel"]
    if not isinstance(ref, str) or not ref:
        raise invalid_field(("channel",), "a channel id or name")
    if "type" in data or "config" in data:
        raise invalid_field(("channel",), "name a saved channel, or give type and config: not both")
    async with state_of(request).db.read() as session:
        row = await store.find_channel(session, principal.tenant, ref)
    if row is None:
        raise not_found(f"channel {ref!r}")
    return row


def _render_check(message: Any, entry: ChannelEntry) -> dict[str, Any] | None:
    """A failed answer of kind `template` when the message does not render against a sample event."""
    if message is None:
        return None
    if not isinstance(message, str):
        raise invalid_field(("message",), "a template string")
    sample: dict[str, Any] = {
        "event_id": "sample",
        "rule_id": "sample",
        "rule_name": "sample",
        "severity": "info",
        "status": "open",
    }
    sample |= {"group_key": "", "summary": "sample", "fired_at": _time(datetime.now(UTC)), "count": 1, "payload": {}}
    try:
        render(message, template_context(sample, {"rule_id": "sample", "name": "sample"}))
    except TemplateError as exc:
        return {"ok": False, "status_code": None, "latency_ms": None, "error": exc.as_dict()}
    return None


async def _ask_notifier(request: Request, entry: ChannelEntry) -> dict[str, Any]:
    wait = timeout_seconds(entry.config) + 2.0
    try:
        reply = await state_of(request).bus.client.request(subjects.CHANNEL_TEST, entry.encode(), timeout=wait)
    except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
        raise Problem(
            503, "the notifier did not answer; is it running?", kind="unavailable", headers={"Retry-After": "1"}
        ) from None
    answer: dict[str, Any] = codec.loads(reply.data)
    return answer


def _time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
