"""Routes for tokens and tenants: mint, list, revoke, whoami, and the platform admin's tenant list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from services.common.db.tables import TokenRow
from services.common.domain.rules.durations import parse_duration
from services.gateway import row_codec
from services.gateway.auth import (
    Principal,
    admin,
    forbidden,
    hash_secret,
    new_secret,
    new_token_id,
    platform_admin,
    viewer,
)
from services.gateway.rest.bodies import parse_model, read_json
from services.gateway.rest.openapi import body, reply
from services.gateway.rest.paging import (
    Cursor,
    Limit,
    Page,
    decode_cursor,
    decode_time_cursor,
    encode_cursor,
    time_cursor,
)
from services.gateway.rest.problems import not_found
from services.gateway.schemas.core import TenantList, TenantName, TokenCreate, TokenCreated, TokenList, Whoami
from services.gateway.state import state_of
from services.gateway.store import audit
from services.gateway.store import tokens as store

router = APIRouter(tags=["auth"])


@router.post(
    "/cep/auth/tokens",
    status_code=201,
    openapi_extra=body(TokenCreate),
    responses=reply(201, TokenCreated, "the minted token; the secret is shown only here"),
)
async def mint_token(request: Request, principal: Principal = Depends(admin)) -> Response:
    """Mint a token for the caller's tenant (the platform admin: for any tenant, creating it if new)."""
    spec = parse_model(TokenCreate, await read_json(request))
    tenant = spec.tenant or principal.tenant
    if tenant != principal.tenant and not principal.platform_admin:
        raise forbidden("a tenant admin mints tokens only for its own tenant")
    now = datetime.now(UTC)
    secret = new_secret()
    expires_at = now + timedelta(seconds=parse_duration(spec.expires_in)) if spec.expires_in else None
    row = TokenRow(
        token_id=new_token_id(),
        tenant=tenant,
        role=spec.role,
        name=spec.name,
        token_hash=hash_secret(secret),
        created_at=now,
        created_by=principal.token_id,
        expires_at=expires_at,
    )
    async with state_of(request).db.write() as session:
        await store.ensure_tenant(session, tenant, now)
        await store.add_token(session, row)
        info = row_codec.token_json(row)
        await audit.record(
            session,
            tenant=tenant,
            actor=principal.actor,
            kind="token",
            resource_id=row.token_id,
            action="created",
            change={"after": {k: info[k] for k in ("tenant", "role", "name", "expires_at")}},
            at=now,
        )
    shown = ("token_id", "tenant", "role", "name", "created_at", "expires_at")
    created = {"token": secret, **{k: info[k] for k in shown}}
    return _json(created, 201)


@router.get("/cep/auth/tokens", responses=reply(200, TokenList, "the tenant's tokens (never their secrets)"))
async def list_tokens(
    request: Request,
    limit: Limit = 50,
    cursor: Cursor = None,
    tenant: TenantName | None = None,
    principal: Principal = Depends(admin),
) -> Response:
    """List the caller's tenant's tokens; the platform admin may name another `tenant`."""
    target = tenant or principal.tenant
    if target != principal.tenant and not principal.platform_admin:
        raise forbidden("a tenant admin lists only its own tenant's tokens")
    after = decode_time_cursor(cursor) if cursor else None
    async with state_of(request).db.read() as session:
        rows, total = await store.list_tokens(session, target, limit, after)
    items = [row_codec.token_json(r) for r in rows]
    last = rows[-1] if len(rows) == limit else None
    next_cursor = time_cursor(last.created_at, last.token_id) if last else None
    return _json(Page(items, total, next_cursor).as_dict())


@router.delete("/cep/auth/tokens/{token_id}", status_code=204, responses=reply(204, None, "revoked"))
async def revoke_token(request: Request, token_id: str, principal: Principal = Depends(admin)) -> Response:
    """Revoke a token of the caller's tenant (the platform admin: of any tenant). Revoking twice is fine."""
    now = datetime.now(UTC)
    async with state_of(request).db.write() as session:
        row = await store.get_token(session, token_id)
        if row is None or (row.tenant != principal.tenant and not principal.platform_admin):
            raise not_found(f"token {token_id!r}")
        if await store.revoke(session, token_id, now):
            await audit.record(
                session,
                tenant=row.tenant,
                actor=principal.actor,
                kind="token",
                resource_id=token_id,
                action="revoked",
                change={"revoked_at": {"before": None, "after": row_codec.rfc3339(now)}},
                at=now,
            )
    return Response(status_code=204)


@router.get("/cep/auth/whoami", responses=reply(200, Whoami, "the caller"))
async def whoami(principal: Principal = Depends(viewer)) -> Response:
    """The tenant, role and token of the caller."""
    return _json(
        {
            "tenant": principal.tenant,
            "role": principal.role,
            "token_id": principal.token_id,
            "name": principal.name,
            "platform_admin": principal.platform_admin,
            "expires_at": row_codec.rfc3339(principal.expires_at),
        }
    )


@router.get("/cep/tenants", responses=reply(200, TenantList, "every tenant (platform admin only)"))
async def list_tenants(
    request: Request, limit: Limit = 50, cursor: Cursor = None, _: Principal = Depends(platform_admin)
) -> Response:
    """List tenants, by name."""
    after = decode_cursor(cursor, (str,))[0] if cursor else None
    async with state_of(request).db.read() as session:
        rows, total = await store.list_tenants(session, limit, after)
    next_cursor = encode_cursor([rows[-1].name]) if len(rows) == limit else None
    return _json(Page([row_codec.tenant_json(r) for r in rows], total, next_cursor).as_dict())


def _json(data: object, status: int = 200) -> Response:
    return JSONResponse(data, status_code=status)
