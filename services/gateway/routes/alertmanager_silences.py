"""Alertmanager's v2 silence routes, per tenant: what `amtool silence add|query|expire` calls, unchanged.

`GET|POST /api/v2/silences` and `GET|DELETE /api/v2/silence/{silenceID}` with Alertmanager's status codes (200
to a post with `{"silenceID"}`, 200 to a delete) and shapes (schemas/alertmanager_v2.py). They store through the
same changes as `/cep/silences` (silence_changes.py). Recurring silences are ours alone: the v2 API neither lists
nor serves them. A bad body or filter is Alertmanager's 400 with the reason as a JSON string, and so is a post
past the tenant's quota of silences (which `/cep/silences` answers with a 429): amtool shows such a reason as it is.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from services.common.db.tables import SilenceRow
from services.common.domain.labels.matchers import Matcher
from services.common.domain.labels.parse import MatcherSyntaxError, parse_matchers
from services.common.domain.silences.listing import in_listing_order, matches_filter
from services.gateway.auth import Principal, editor, viewer
from services.gateway.quota_limits import QUOTA_EXCEEDED
from services.gateway.rest.bodies import read_json
from services.gateway.rest.problems import Problem
from services.gateway.schemas.alertmanager_v2 import BAD_REQUEST_V2, BadRequest, postable_silence, silence_v2
from services.gateway.schemas.silences import fixed_silence
from services.gateway.silence_changes import SILENCE, create, edit, expire_silence
from services.gateway.state import state_of
from services.gateway.store import silences as store

router = APIRouter(prefix="/api/v2", tags=["alertmanager"])
Filter = Annotated[list[str] | None, Query(description="matchers in amtool's syntax; a silence passes them all")]


def _bad_request(exc: BadRequest | MatcherSyntaxError | Problem) -> JSONResponse:
    return JSONResponse(str(exc), status_code=400)


@router.get("/silences", responses=BAD_REQUEST_V2)
async def get_silences(request: Request, principal: Principal = Depends(viewer), filter: Filter = None) -> Response:
    """The tenant's silences (expired ones too), active first, as `gettableSilences`."""
    try:
        filters: list[Matcher] = [m for text in filter or () for m in parse_matchers(text)]
    except MatcherSyntaxError as exc:
        return _bad_request(exc)
    now = datetime.now(UTC)
    async with state_of(request).db.read() as session:
        rows = {row.silence_id: row for row in await store.fixed_silences(session, principal.tenant)}
    silences = [s for s in (fixed_silence(row) for row in rows.values()) if matches_filter(s, filters)]
    return JSONResponse([silence_v2(rows[s.id], now) for s in in_listing_order(silences, now)])


@router.post("/silences", responses=BAD_REQUEST_V2)
async def post_silences(request: Request, principal: Principal = Depends(editor)) -> Response:
    """Create a silence, or edit the one `id` names (which may store a new silence): 200 `{"silenceID"}`."""
    now = datetime.now(UTC)
    try:
        silence_id, draft = postable_silence(await read_json(request), author=principal.name, now=now)
    except BadRequest as exc:
        return _bad_request(exc)
    state = state_of(request)
    try:
        if silence_id is None:
            saved = await create(state, principal, draft, now)
        else:
            await _fixed(request, principal, silence_id)
            saved = await edit(state, principal, silence_id, draft, now)
    except Problem as exc:
        if exc.kind != QUOTA_EXCEEDED:
            raise
        return _bad_request(exc)
    return JSONResponse({"silenceID": saved.row.silence_id})


@router.get("/silence/{silence_id}")
async def get_silence(request: Request, silence_id: str, principal: Principal = Depends(viewer)) -> Response:
    """One silence as a `gettableSilence`."""
    row = await _fixed(request, principal, silence_id)
    return JSONResponse(silence_v2(row, datetime.now(UTC)))


@router.delete("/silence/{silence_id}", response_class=Response, responses={200: {"description": "expired (no body)"}})
async def delete_silence(request: Request, silence_id: str, principal: Principal = Depends(editor)) -> Response:
    """Expire a silence now (it stays listed, `expired`); 200 with an empty body, as Alertmanager answers."""
    await _fixed(request, principal, silence_id)
    await expire_silence(state_of(request), principal, silence_id, datetime.now(UTC))
    return Response(status_code=200)


async def _fixed(request: Request, principal: Principal, silence_id: str) -> SilenceRow:
    """The tenant's fixed silence of this id; a 404 for a recurring one, another tenant's or an unknown one."""
    async with state_of(request).db.read() as session:
        row = await store.get_silence(session, principal.tenant, silence_id)
    if row is None or row.recurrence is not None:
        raise SILENCE.not_found(silence_id)
    return row
