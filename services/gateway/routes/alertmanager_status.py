"""Alertmanager's v2 status and receivers, per tenant: `GET /api/v2/status` and `GET /api/v2/receivers`.

The receivers are the tenant's channels (by name); the status reports the Alertmanager version whose API this
speaks, a cluster of one with gossip disabled, the tenant's configuration as Alertmanager YAML (its receivers and
inhibit rules) and when this gateway started.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from services.gateway.auth import Principal, viewer
from services.gateway.schemas.alertmanager_v2 import receivers_v2, status_v2
from services.gateway.state import state_of
from services.gateway.store import channels as channel_store
from services.gateway.store import inhibit_rules as inhibit_store

router = APIRouter(prefix="/api/v2", tags=["alertmanager"])
_PAGE = 1000


@router.get("/status")
async def get_status(request: Request, principal: Principal = Depends(viewer)) -> Response:
    """An `alertmanagerStatus` for the caller's tenant."""
    state = state_of(request)
    async with state.db.read() as session:
        receivers = await _receiver_names(session, principal.tenant)
        specs = [row.spec for row in await inhibit_store.live_rules(session, principal.tenant)]
    body = status_v2(
        tenant=principal.tenant,
        receivers=receivers,
        inhibit_specs=specs,
        started_at=state.started_at,
        product_version=_product_version(),
    )
    return JSONResponse(body)


@router.get("/receivers")
async def get_receivers(request: Request, principal: Principal = Depends(viewer)) -> Response:
    """The tenant's channels as `receiver` objects."""
    async with state_of(request).db.read() as session:
        names = await _receiver_names(session, principal.tenant)
    return JSONResponse(receivers_v2(names))


async def _receiver_names(session: AsyncSession, tenant: str) -> list[str]:
    names: list[str] = []
    after = None
    while True:
        rows, _ = await channel_store.list_channels(session, tenant, _PAGE, after)
        names += [row.name for row in rows]
        if len(rows) < _PAGE:
            return names
        after = (rows[-1].created_at, rows[-1].channel_id)


def _product_version() -> str:
    try:
        return version("cep-platform")
    except PackageNotFoundError:
        return "0.0.0"
