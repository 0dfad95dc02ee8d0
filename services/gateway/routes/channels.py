"""Channels CRUD: list, create, read, replace, delete. Secret config fields are write-only (never returned): header
values and URL credentials show as `***`, and SQL holds every secret sealed (channel_secrets.py)."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.common.db.tables import ChannelRow
from services.common.domain.notify.channel_types import TYPES
from services.common.domain.notify.channels import (
    ChannelSpec,
    ChannelValidationError,
    parse_channel,
    split_stored,
)
from services.common.secrets.sealing import SecretsKeyError
from services.gateway import template_checks
from services.gateway.auth import Principal, editor, viewer
from services.gateway.channel_secrets import opened_secrets, seal_all
from services.gateway.rest.bodies import read_json
from services.gateway.rest.paging import Cursor, Limit, Page, decode_time_cursor, time_cursor
from services.gateway.rest.problems import Problem, invalid
from services.gateway.routes.versioned import Resource, name_in, row_with
from services.gateway.row_codec import rfc3339
from services.gateway.state import state_of
from services.gateway.store import audit
from services.gateway.store import channels as store

log = logging.getLogger(__name__)
router = APIRouter(tags=["channels"])
IfMatch = Annotated[str | None, Header(alias="If-Match", max_length=64)]
CHANNEL = Resource(noun="channel", short="channel", kind="channel", base="/cep/channels")


class ChannelBody(BaseModel):
    """A create or replace body; a secret left out of a replace keeps its stored value, `null` clears it.

    Header values and URL credentials are secret too: GET shows them as `***`, and `***` sent back keeps them.
    """

    name: Annotated[str, Field(min_length=1, max_length=200)]
    type: str = Field(description=f"one of: {', '.join(TYPES)} (see GET /cep/channels/types)")
    config: dict[str, Any] = Field(default_factory=dict)
    version: int | None = Field(default=None, description="replace only: the version read (409 when stale)")


class Channel(BaseModel):
    """A channel as returned: the public config only, and which secret fields hold a value."""

    channel_id: str
    tenant: str
    name: str
    type: str
    config: dict[str, Any]
    secrets_set: list[str]
    version: int
    created_at: str
    updated_at: str


class ChannelList(BaseModel):
    items: list[Channel]
    total: int
    next_cursor: str | None


_BODY = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": ChannelBody.model_json_schema()}}}
}


def channel_json(row: ChannelRow) -> dict[str, Any]:
    """The API view of a channel: never a secret value, only the names of the secrets that are set."""
    return {
        "channel_id": row.channel_id,
        "tenant": row.tenant,
        **_public(row),
        "version": row.version,
        "created_at": rfc3339(row.created_at),
        "updated_at": rfc3339(row.updated_at),
    }


def parse(body: Any, stored_secrets: dict[str, Any] | None = None) -> ChannelSpec:
    """`parse_channel`, with its errors as a 422 problem naming each field (`config.url`)."""
    try:
        return parse_channel(body, stored_secrets)
    except ChannelValidationError as exc:
        raise invalid(exc.errors) from None


def _response(row: ChannelRow, status: int = 200) -> JSONResponse:
    headers = CHANNEL.headers(row.version, row.channel_id, created=status == 201)
    return JSONResponse(channel_json(row), status_code=status, headers=headers)


def _public(row: ChannelRow) -> dict[str, Any]:
    """Name, type, the config as shown (masked, also for a row from before masking) and which secrets are set."""
    config, secrets = split_stored(row.type, row.config, row.secrets)
    return {"name": row.name, "type": row.type, "config": config, "secrets_set": sorted(secrets)}


def _opened(request: Request, row: ChannelRow) -> dict[str, Any]:
    try:
        return opened_secrets(state_of(request).secret_box, row)
    except SecretsKeyError:
        log.error("channel %s holds a secret none of the configured keys opens", row.channel_id)
        detail = "a stored secret of this channel opens with none of the configured keys (CEP_SECRETS_KEY)"
        raise Problem(503, detail, kind="unavailable") from None


async def _mirror(request: Request, row: ChannelRow, previous: ChannelRow | None = None) -> None:
    await CHANNEL.mirror(state_of(request).channel_publisher, row, row.channel_id, previous)


@router.get("/cep/channels", responses={200: {"model": ChannelList, "description": "the tenant's channels"}})
async def list_channels(
    request: Request, principal: Principal = Depends(viewer), limit: Limit = 50, cursor: Cursor = None
) -> Response:
    """List channels, oldest first."""
    after = decode_time_cursor(cursor) if cursor else None
    async with state_of(request).db.read() as session:
        rows, total = await store.list_channels(session, principal.tenant, limit, after)
    last = rows[-1] if len(rows) == limit else None
    next_cursor = time_cursor(last.created_at, last.channel_id) if last else None
    return JSONResponse(Page([channel_json(r) for r in rows], total, next_cursor).as_dict())


@router.post(
    "/cep/channels",
    status_code=201,
    openapi_extra=_BODY,
    responses={201: {"model": Channel, "description": "the created channel (secrets never shown)"}},
)
async def create_channel(request: Request, principal: Principal = Depends(editor)) -> Response:
    """Create a channel; its name must be unused among the tenant's channels (409 naming `name`)."""
    data = await read_json(request)
    await template_checks.check_channel(data)
    spec = parse(data)
    now = datetime.now(UTC)
    row = ChannelRow(
        channel_id=uuid.uuid4().hex,
        tenant=principal.tenant,
        name=spec.name,
        type=spec.type,
        config=spec.config,
        secrets=seal_all(state_of(request).secret_box, spec.secrets),
        version=1,
        created_at=now,
        updated_at=now,
    )
    with CHANNEL.storing(spec.name):
        async with state_of(request).db.write() as session:
            if await store.name_taken(session, principal.tenant, spec.name):
                raise CHANNEL.name_conflict(spec.name)
            await store.insert_channel(session, row)
            await _audit(session, principal, row, "created", {"after": _public(row)}, now)
    await _mirror(request, row)
    return _response(row, 201)


@router.get("/cep/channels/{channel_id}", responses={200: {"model": Channel, "description": "the channel"}})
async def get_channel(request: Request, channel_id: str, principal: Principal = Depends(viewer)) -> Response:
    """Read one channel (without its secret values)."""
    async with state_of(request).db.read() as session:
        row = await store.get_channel(session, principal.tenant, channel_id)
    if row is None:
        raise CHANNEL.not_found(channel_id)
    return _response(row)


@router.put(
    "/cep/channels/{channel_id}",
    openapi_extra=_BODY,
    responses={200: {"model": Channel, "description": "the channel after the change"}},
)
async def replace_channel(
    request: Request, channel_id: str, if_match: IfMatch = None, principal: Principal = Depends(editor)
) -> Response:
    """Replace name, type and config; secrets left out are kept. `version` or `If-Match` make it conditional."""
    data = await read_json(request)
    await template_checks.check_channel(data)
    now = datetime.now(UTC)
    with CHANNEL.storing(name_in(data)):
        async with state_of(request).db.write() as session:
            row = await _current(session, principal.tenant, channel_id, data, if_match)
            stored = _opened(request, row)
            spec = parse(data, stored)
            shown = _public(row)["config"]
            if (spec.name, spec.type, spec.config, spec.secrets) == (row.name, row.type, shown, stored):
                return _response(row)  # nothing changed: no new version
            if spec.name != row.name and await store.name_taken(session, row.tenant, spec.name, row.channel_id):
                raise CHANNEL.name_conflict(spec.name)
            values: dict[str, Any] = {"name": spec.name, "type": spec.type, "config": spec.config}
            box = state_of(request).secret_box
            values |= {"secrets": seal_all(box, spec.secrets), "version": row.version + 1, "updated_at": now}
            if not await store.update_channel(session, row.tenant, row.channel_id, row.version, values):
                raise CHANNEL.busy()
            new = row_with(row, **values)
            await _audit(session, principal, new, "replaced", _change(row, new, stored, spec.secrets), now)
    await _mirror(request, new, previous=row)
    return _response(new)


@router.delete("/cep/channels/{channel_id}", status_code=204, responses={204: {"description": "deleted"}})
async def delete_channel(
    request: Request, channel_id: str, if_match: IfMatch = None, principal: Principal = Depends(editor)
) -> Response:
    """Delete a channel: deliveries naming it fail with a `config` error from now on; its name is free again."""
    data = await read_json(request) if await request.body() else None
    now = datetime.now(UTC)
    async with state_of(request).db.write() as session:
        row = await _current(session, principal.tenant, channel_id, data, if_match)
        # A deleted channel's secrets are never used again: they are not kept.
        values = {"version": row.version + 1, "updated_at": now, "deleted_at": now, "secrets": {}}
        if not await store.update_channel(session, row.tenant, row.channel_id, row.version, values):
            raise CHANNEL.busy()
        deleted = row_with(row, **values)
        await _audit(session, principal, deleted, "deleted", {"before": _public(row)}, now)
    await _mirror(request, deleted)
    return Response(status_code=204)


async def _current(session: Any, tenant: str, channel_id: str, data: Any, if_match: str | None) -> ChannelRow:
    """The live row, locked for this write; 404 when the tenant has no such channel, 409 when a version is stale."""
    row = await store.get_channel(session, tenant, channel_id, for_update=True)
    return CHANNEL.current(row, channel_id, data, if_match)


def _change(
    before: ChannelRow, after: ChannelRow, before_secrets: dict[str, Any], after_secrets: dict[str, Any]
) -> dict[str, Any]:
    """The audit diff: public fields by path, secrets by name only (which ones changed, never their values).

    The secrets are compared in the clear: a sealed value differs at every sealing.
    """
    change = audit.diff(
        {k: v for k, v in _public(before).items() if k != "secrets_set"},
        {k: v for k, v in _public(after).items() if k != "secrets_set"},
    )
    names = sorted(set(before_secrets) | set(after_secrets))
    changed = [n for n in names if before_secrets.get(n) != after_secrets.get(n)]
    if changed:
        change["secrets_changed"] = changed
    change["version"] = {"before": before.version, "after": after.version}
    return change


async def _audit(
    session: Any, principal: Principal, row: ChannelRow, action: str, change: dict[str, Any], at: datetime
) -> None:
    await CHANNEL.audit(session, principal, (row.tenant, row.channel_id), action, change, at)
