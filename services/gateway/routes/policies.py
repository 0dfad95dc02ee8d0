"""`/cep/settings`: a tenant's team policies, read by anyone of the tenant, changed by its admins, audited."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError

from services.common.db.tables import TenantSettingsRow
from services.common.domain.lifecycle.ack_sla import AckSla
from services.common.domain.rules.durations import format_duration
from services.common.domain.rules.policies import TeamPolicies
from services.gateway import row_codec
from services.gateway.auth import Principal, admin, viewer
from services.gateway.rest.bodies import parse_model, read_object
from services.gateway.rest.merge import if_match_version, merge_patch
from services.gateway.rest.problems import invalid_field, stale
from services.gateway.state import state_of
from services.gateway.store import audit
from services.gateway.store import policies as store

router = APIRouter(tags=["settings"])
IfMatch = Annotated[str | None, Header(alias="If-Match", max_length=64)]


class SettingsBody(BaseModel):
    """What an admin writes: the team policies (PUT replaces them; PATCH merges into them)."""

    model_config = ConfigDict(extra="forbid")

    policies: TeamPolicies = Field(default_factory=TeamPolicies)
    version: int | None = Field(default=None, ge=0, description="the version read (optional; 409 when stale)")


class Settings(BaseModel):
    """A tenant's settings; `version` 0 means never set (every policy off)."""

    tenant: str
    policies: TeamPolicies
    version: int
    updated_at: str | None
    updated_by: str | None
    ack_sla: dict[str, str] = Field(description="the ACK SLA in force: the tenant's policy, else the platform's")


@router.get("/cep/settings", responses={200: {"model": Settings, "description": "the tenant's settings"}})
async def get_settings(request: Request, principal: Principal = Depends(viewer)) -> Response:
    """The tenant's settings (team policies) and the ACK SLA in force."""
    async with state_of(request).db.read() as session:
        row = await store.get_settings(session, principal.tenant)
    return JSONResponse(_json(request, principal.tenant, row))


def _documented(media_type: str) -> dict[str, Any]:
    """The OpenAPI of a write: its body (read by the route itself) and its answer."""
    schema = SettingsBody.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)  # TeamPolicies is in the components already (the answer's model holds it)
    return {
        "openapi_extra": {"requestBody": {"required": True, "content": {media_type: {"schema": schema}}}},
        "responses": {200: {"model": Settings, "description": "the new settings"}},
    }


@router.put("/cep/settings", **_documented("application/json"))
async def put_settings(request: Request, if_match: IfMatch = None, principal: Principal = Depends(admin)) -> Response:
    """Replace the team policies (admin); `version` or `If-Match` make it conditional."""
    data = await read_object(request)
    expected = _expected(data, if_match)
    body = parse_model(SettingsBody, data)
    return await _write(request, principal, lambda _old: body.policies, expected, "replaced")


@router.patch("/cep/settings", **_documented("application/merge-patch+json"))
async def patch_settings(request: Request, if_match: IfMatch = None, principal: Principal = Depends(admin)) -> Response:
    """Merge-patch the team policies (admin): `{"policies": {"require_channel_test": true}}`; null resets one."""
    patch = await read_object(request)
    expected = _expected(patch, if_match)

    def patched(old: TeamPolicies) -> TeamPolicies:
        merged = merge_patch({"policies": old.model_dump(mode="json")}, patch)
        return parse_model(SettingsBody, merged).policies

    return await _write(request, principal, patched, expected, "patched")


def _expected(data: dict[str, Any], if_match: str | None) -> list[int]:
    """The versions the client asserted (`version` in the body, `If-Match`); 0 asserts "never set"."""
    version = data.pop("version", None)
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 0):
        raise invalid_field(("version",), "the version is an integer (the one you read; 0 when never set)")
    return [v for v in (version, if_match_version(if_match)) if v is not None]


async def _write(
    request: Request,
    principal: Principal,
    make: Callable[[TeamPolicies], TeamPolicies],
    expected: list[int],
    action: str,
) -> Response:
    """Read, check the asserted versions, change, store as the next version and audit, in one transaction."""
    tenant, now = principal.tenant, datetime.now(UTC)
    try:
        async with state_of(request).db.write() as session:
            row = await store.get_settings(session, tenant)
            version = row.version if row is not None else 0
            for wanted in expected:
                if wanted != version:
                    raise stale(version, wanted)
            old = store.policies_of(row)
            before, after = old.model_dump(mode="json"), make(old).model_dump(mode="json")
            if before == after and row is not None:
                return JSONResponse(_json(request, tenant, row))
            row = await store.save_settings(session, tenant, {"policies": after}, version, principal.name, now)
            if row is None:
                raise stale(version + 1, version)
            change: dict[str, Any] = {f"policies.{k}": v for k, v in audit.diff(before, after).items()}
            change["version"] = {"before": version, "after": row.version}
            await audit.record(
                session,
                tenant=tenant,
                actor=principal.actor,
                kind="setting",
                resource_id="policies",
                action=action,
                change=change,
                at=now,
            )
    except IntegrityError:  # another admin's first write won the race
        raise stale(1, 0) from None
    return JSONResponse(_json(request, tenant, row))


def _json(request: Request, tenant: str, row: TenantSettingsRow | None) -> dict[str, Any]:
    policies = store.policies_of(row)
    own = policies.ack_sla_policy()
    sla = own if own is not None else state_of(request).settings.ack_sla_policy
    if state_of(request).ack_sla is None:  # the check runs only when CEP_ACK_SLA is not off
        sla = AckSla()
    return {
        "tenant": tenant,
        "policies": policies.model_dump(mode="json"),
        "version": row.version if row is not None else 0,
        "updated_at": row_codec.rfc3339(row.updated_at) if row is not None else None,
        "updated_by": row.updated_by if row is not None else None,
        "ack_sla": {priority: format_duration(seconds) for priority, seconds in sla.limits.items()},
    }
