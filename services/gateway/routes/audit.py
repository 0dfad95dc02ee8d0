"""`GET /cep/audit`: who changed which rule, channel, token or setting of the tenant, when, and the change."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from services.gateway import row_codec
from services.gateway.auth import Principal, viewer
from services.gateway.rest.openapi import reply
from services.gateway.rest.paging import Cursor, Limit, Page, decode_cursor, encode_cursor
from services.gateway.rest.times import UtcTime
from services.gateway.schemas.core import AuditList
from services.gateway.state import state_of
from services.gateway.store import audit as store

router = APIRouter(tags=["operations"])


@router.get("/cep/audit", responses=reply(200, AuditList, "audit entries, newest first"))
async def list_audit(
    request: Request,
    principal: Principal = Depends(viewer),
    resource: Annotated[str | None, Query(max_length=32, description="rule, channel, token, setting")] = None,
    resource_id: Annotated[str | None, Query(max_length=128)] = None,
    since: Annotated[UtcTime | None, Query(description="RFC 3339; entries at or after it")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Response:
    """The tenant's audit log, newest first, filtered by resource kind, resource id and time."""
    before = decode_cursor(cursor, (int,))[0] if cursor else None
    async with state_of(request).db.read() as session:
        rows, total = await store.list_audit(
            session,
            principal.tenant,
            kind=resource,
            resource_id=resource_id,
            since=since,
            limit=limit,
            before_id=before,
        )
    next_cursor = encode_cursor([rows[-1].id]) if len(rows) == limit else None
    return JSONResponse(Page([row_codec.audit_json(r) for r in rows], total, next_cursor).as_dict())
