"""Silences: create, list by state, read, edit with Alertmanager's rules, expire, and preview over open events.

A silence mutes the tenant's events whose labels its matchers all accept, while it is active (a recurring one
only inside its windows). Editors write, viewers read; another tenant's silence is a 404 like an unknown one.
The same silences are served to amtool by Alertmanager's v2 API (alertmanager_silences.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.common.domain.rules.errors import FieldError
from services.common.domain.silences.model import SilenceState
from services.common.domain.silences.muting import preview
from services.gateway.auth import Principal, editor, viewer
from services.gateway.rest.bodies import read_json, read_object
from services.gateway.rest.inline_openapi import answers, inline_body
from services.gateway.rest.paging import Cursor, Limit, Page, decode_time_cursor, time_cursor
from services.gateway.rest.problems import invalid
from services.gateway.schemas.matchers import MatcherIn, read_matchers
from services.gateway.schemas.silences import SilenceBody, SilenceList, StoredSilence, parse_silence, silence_json
from services.gateway.silence_changes import SILENCE, Saved, create, edit, expire_silence
from services.gateway.state import state_of
from services.gateway.store import silences as store
from services.gateway.store.open_events import open_event_labels

router = APIRouter(tags=["silences"])

BASE = "/cep/silences"
StateFilter = Annotated[
    list[str] | None,
    Query(description="only silences in these states (repeat or comma-separate: `active,pending`)"),
]


class PreviewBody(BaseModel):
    matchers: list[MatcherIn | str]


class PreviewEvent(BaseModel):
    event_id: str
    rule_id: str
    rule_name: str
    status: str
    fingerprint: str
    labels: dict[str, str]


class SilencePreview(BaseModel):
    events: list[PreviewEvent] = Field(description="the open events the matchers accept now")
    total: int
    truncated: bool = Field(description="more open events than CEP_PREVIEW_OPEN_EVENTS: only the newest were read")


def _saved_response(saved: Saved, now: datetime) -> JSONResponse:
    view = silence_json(saved.row, now)
    view["change"] = {
        "reason": saved.reason,
        "expired_id": saved.expired.silence_id if saved.expired is not None else None,
    }
    status = 201 if saved.created else 200
    headers = SILENCE.headers(saved.row.version, saved.row.silence_id, created=saved.created)
    return JSONResponse(view, status_code=status, headers=headers)


@router.post(
    BASE, status_code=201, openapi_extra=inline_body(SilenceBody), responses=answers(201, StoredSilence, "created")
)
async def create_silence(request: Request, principal: Principal = Depends(editor)) -> Response:
    """Create a silence: fixed (`ends_at` or `duration`) or recurring (`recurrence`); a past start starts now."""
    now = datetime.now(UTC)
    draft = parse_silence(await read_json(request), author=principal.name, now=now)
    return _saved_response(await create(state_of(request), principal, draft, now), now)


@router.get(BASE, responses=answers(200, SilenceList, "the tenant's silences"))
async def list_silences(
    request: Request,
    principal: Principal = Depends(viewer),
    state: StateFilter = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Response:
    """List the tenant's silences, oldest first, optionally only those in some states."""
    states = _states(state or [])
    after = decode_time_cursor(cursor) if cursor else None
    now = datetime.now(UTC)
    async with state_of(request).db.read() as session:
        rows, total = await store.list_silences(
            session, principal.tenant, states=states, now=now, limit=limit, after=after
        )
    last = rows[-1] if len(rows) == limit else None
    next_cursor = time_cursor(last.created_at, last.silence_id) if last else None
    return JSONResponse(Page([silence_json(r, now) for r in rows], total, next_cursor).as_dict())


@router.post(
    f"{BASE}/preview", openapi_extra=inline_body(PreviewBody), responses=answers(200, SilencePreview, "matches")
)
async def preview_silence(request: Request, principal: Principal = Depends(viewer)) -> Response:
    """The open events of the tenant that these matchers would silence now (nothing is stored)."""
    data = await read_object(request)
    errors: list[FieldError] = []
    matchers = read_matchers(data.get("matchers"), ("matchers",), errors)
    if errors:
        raise invalid(errors)
    state = state_of(request)
    async with state.db.read() as session:
        events, truncated = await open_event_labels(session, principal.tenant, state.settings.preview_open_events)
    by_id = {event.event_id: event for event in events}
    matched = set(preview(matchers, {event.event_id: event.labels for event in events}))
    items = [_preview_event(by_id[event.event_id]) for event in events if event.event_id in matched]
    return JSONResponse({"events": items, "total": len(items), "truncated": truncated})


@router.get(f"{BASE}/{{silence_id}}", responses=answers(200, StoredSilence, "the silence"))
async def get_silence(request: Request, silence_id: str, principal: Principal = Depends(viewer)) -> Response:
    """Read one silence with its state now."""
    async with state_of(request).db.read() as session:
        row = await store.get_silence(session, principal.tenant, silence_id)
    if row is None:
        raise SILENCE.not_found(silence_id)
    return JSONResponse(silence_json(row, datetime.now(UTC)), headers={"ETag": f'"{row.version}"'})


@router.put(
    f"{BASE}/{{silence_id}}",
    openapi_extra=inline_body(SilenceBody),
    responses={**answers(200, StoredSilence, "updated in place"), **answers(201, StoredSilence, "replaced")},
)
async def edit_silence(request: Request, silence_id: str, principal: Principal = Depends(editor)) -> Response:
    """Edit a silence as Alertmanager does: in place (200) when history stays true, else the old silence expires
    and a new one with a new id is created (201, `Location`); `change.reason` says which and why."""
    now = datetime.now(UTC)
    data = await read_json(request)
    draft = parse_silence(data, author=principal.name, now=now)
    return _saved_response(await edit(state_of(request), principal, silence_id, draft, now), now)


@router.post(f"{BASE}/{{silence_id}}/expire", responses=answers(200, StoredSilence, "the expired silence"))
async def expire(request: Request, silence_id: str, principal: Principal = Depends(editor)) -> Response:
    """Expire a silence now (`ends_at` = now; a pending one also starts now); expiring an expired one is a no-op."""
    row = await expire_silence(state_of(request), principal, silence_id, datetime.now(UTC))
    return JSONResponse(silence_json(row, datetime.now(UTC)))  # judged after its end: `expired`


def _states(values: list[str]) -> list[SilenceState]:
    names = [part.strip() for value in values for part in value.split(",") if part.strip()]
    try:
        return [SilenceState(name) for name in names]
    except ValueError:
        raise invalid([FieldError(("state",), "pending, active or expired")]) from None


def _preview_event(event: Any) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "rule_id": event.rule_id,
        "rule_name": event.rule_name,
        "status": event.status,
        "fingerprint": event.fingerprint,
        "labels": event.labels,
    }
