"""Quota routes: the platform admin reads and overrides a tenant's quotas; a tenant's members read theirs and
their usage. Overrides are audited (in the tenant's log and the platform's) and mirrored into `cep-quotas`."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.exc import IntegrityError

from services.common.db.tables import TenantQuotaRow
from services.common.domain.quotas.tenant_quotas import TenantQuotas
from services.common.domain.rules.errors import FieldError, from_pydantic
from services.common.nats import subjects
from services.gateway import row_codec
from services.gateway.auth import PLATFORM_TENANT, Principal, platform_admin, viewer
from services.gateway.quota_limits import QuotaLimits, effective
from services.gateway.rest.bodies import read_object
from services.gateway.rest.problems import invalid, invalid_field, not_found, stale
from services.gateway.state import state_of
from services.gateway.store import audit
from services.gateway.store import quotas as store

log = logging.getLogger(__name__)
router = APIRouter(tags=["quotas"])
TenantPath = Annotated[str, Path(max_length=200, description="the tenant's name")]


class Usage(BaseModel):
    rules: int
    polling_targets: int
    silences: int = Field(description="silences active or pending now (expired ones do not count)")
    inhibit_rules: int
    sse_streams: int = Field(description="open SSE streams on the gateway replica that answered (counted per replica)")


class QuotaView(BaseModel):
    """A tenant's quotas: in force (`quotas`), the platform admin's overrides, the platform defaults."""

    tenant: str
    quotas: TenantQuotas
    overrides: dict[str, Any]
    defaults: TenantQuotas
    version: int = Field(description="0 until the platform admin first overrides a quota")
    updated_at: str | None
    updated_by: str | None


class TenantQuotaView(QuotaView):
    usage: Usage


def _overrides_body() -> dict[str, Any]:
    """The OpenAPI of the PUT body, which the route reads itself (so that `null` can mean "remove")."""
    properties = {
        name: {"type": ["integer" if field.annotation is int else "number", "null"], "description": field.description}
        for name, field in TenantQuotas.model_fields.items()
    }
    schema = {"type": "object", "properties": properties, "additionalProperties": False}
    description = "any subset of the quotas: a number overrides the default, `null` removes the override"
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": schema}},
        }
    }


def _view(limits: QuotaLimits, tenant: str, row: TenantQuotaRow | None) -> dict[str, Any]:
    overrides = dict(row.overrides) if row is not None else {}
    return {
        "tenant": tenant,
        "quotas": effective(limits.defaults, overrides).model_dump(),
        "overrides": overrides,
        "defaults": limits.defaults.model_dump(),
        "version": row.version if row is not None else 0,
        "updated_at": row_codec.rfc3339(row.updated_at) if row is not None else None,
        "updated_by": row.updated_by if row is not None else None,
    }


@router.get("/cep/quotas", responses={200: {"model": TenantQuotaView, "description": "the caller's tenant"}})
async def my_quotas(request: Request, principal: Principal = Depends(viewer)) -> Response:
    """The caller's tenant: its quotas in force and how much of each it uses (SSE streams: on this replica)."""
    limits = state_of(request).quotas
    async with state_of(request).db.read() as session:
        row = await store.get_overrides(session, principal.tenant)
        usage = await limits.usage(session, principal.tenant)
    usage["sse_streams"] = state_of(request).stream_slots.open(principal.tenant)
    return JSONResponse({**_view(limits, principal.tenant, row), "usage": usage})


@router.get("/cep/admin/quotas/{tenant}", responses={200: {"model": QuotaView, "description": "the tenant's quotas"}})
async def get_quotas(request: Request, tenant: TenantPath, _: Principal = Depends(platform_admin)) -> Response:
    """A tenant's quotas in force, its overrides and the platform defaults (the platform admin only)."""
    _check_name(tenant)
    async with state_of(request).db.read() as session:
        if not await store.tenant_exists(session, tenant):
            raise not_found(f"tenant {tenant!r}")
        row = await store.get_overrides(session, tenant)
    return JSONResponse(_view(state_of(request).quotas, tenant, row))


@router.put(
    "/cep/admin/quotas/{tenant}",
    openapi_extra=_overrides_body(),
    responses={200: {"model": QuotaView, "description": "the tenant's quotas after the change"}},
)
async def put_quotas(request: Request, tenant: TenantPath, principal: Principal = Depends(platform_admin)) -> Response:
    """Override some of a tenant's quotas (`{"rules": 500}`); `null` puts one back to the platform default."""
    _check_name(tenant)
    body = await read_object(request)
    limits, now = state_of(request).quotas, datetime.now(UTC)
    try:
        async with state_of(request).db.write() as session:
            if not await store.tenant_exists(session, tenant, lock=True):
                raise not_found(f"tenant {tenant!r}")
            row = await store.get_overrides(session, tenant)
            before = dict(row.overrides) if row is not None else {}
            after = _merged(limits.defaults, before, body)
            if after == before:
                return JSONResponse(_view(limits, tenant, row))
            version = row.version if row is not None else 0
            row = await store.save_overrides(session, tenant, after, version, principal.name, now)
            if row is None:
                raise stale(version + 1, version)
            change: dict[str, Any] = {f"quotas.{k}": v for k, v in audit.diff(before, after).items()}
            change["version"] = {"before": version, "after": row.version}
            await _audit(session, principal, tenant, change, now)
    except IntegrityError:  # another first write for this tenant won the race
        raise stale(1, 0) from None
    limits.forget(tenant)
    await _mirror(request, tenant)
    return JSONResponse(_view(limits, tenant, row))


def _check_name(tenant: str) -> None:
    if not subjects.valid_tenant(tenant):
        raise invalid_field(("tenant",), "a tenant name matches [a-z0-9-]{1,63}")


def _merged(defaults: TenantQuotas, before: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """The overrides after applying `body` (null removes one), each value checked strictly; 422 naming fields."""
    names = TenantQuotas.model_fields
    unknown = [FieldError((k,), f"not a quota; one of: {', '.join(names)}") for k in body if k not in names]
    if unknown:
        raise invalid(unknown)
    after = {k: v for k, v in {**before, **body}.items() if v is not None and k in names}
    try:
        checked = TenantQuotas.model_validate({**defaults.model_dump(), **after}, strict=True)
    except ValidationError as exc:
        raise invalid(from_pydantic(exc)) from None
    return {k: getattr(checked, k) for k in TenantQuotas.model_fields if k in after}


async def _audit(session: Any, principal: Principal, tenant: str, change: dict[str, Any], now: datetime) -> None:
    """One audit row in the tenant's log (it sees who changed its limits) and one in the platform's."""
    for log_tenant in dict.fromkeys((tenant, PLATFORM_TENANT)):
        await audit.record(
            session,
            tenant=log_tenant,
            actor=principal.actor,
            kind="quota",
            resource_id=tenant,
            action="changed",
            change=change,
            at=now,
        )


async def _mirror(request: Request, tenant: str) -> None:
    # The change is committed: a failing mirror must not turn it into an error; reconciliation repairs it.
    try:
        await state_of(request).quota_publisher.publish_tenant(tenant)
    except Exception as exc:
        log.warning("mirroring the quotas of %s into the bucket failed (%s)", tenant, type(exc).__name__)
