"""Metric-polling targets: list, create, read, replace, delete, and each target's latest snapshot.

Targets live in SQL and are mirrored into the `cep-polling` bucket the scheduler leader polls from; the leader
writes each target's latest snapshot (values, time, latency, error) into `cep-polling-snapshots`, read here.
Editors write, viewers read; another tenant's target is a 404 like an unknown one.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import nats.errors
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from services.common.db.tables import PollingTargetRow
from services.common.domain.schedules.polling import PollingValidationError, TargetSpec, parse_target
from services.common.nats import subjects
from services.gateway.auth import Principal, editor, viewer
from services.gateway.live.polling_snapshots import read_snapshots
from services.gateway.rest.bodies import read_json
from services.gateway.rest.paging import Cursor, Limit, Page, decode_time_cursor, time_cursor
from services.gateway.rest.problems import Problem, invalid
from services.gateway.routes.versioned import Resource, name_in, row_with
from services.gateway.schemas.polling import (
    SnapshotList,
    Target,
    TargetBody,
    TargetList,
    snapshot_json,
    target_json,
)
from services.gateway.state import state_of
from services.gateway.store import audit
from services.gateway.store import polling as store

log = logging.getLogger(__name__)
router = APIRouter(tags=["scheduler"])
BASE = "/cep/scheduler/metric-polling"
IfMatch = Annotated[str | None, Header(alias="If-Match", max_length=64)]
TARGET = Resource(noun="polling target", short="target", kind="polling_target", base=BASE)


_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": TargetBody.model_json_schema()}}}}


def parse(body: Any) -> TargetSpec:
    """`parse_target`, with its errors as a 422 problem naming each field (`metrics.0.path`)."""
    try:
        return parse_target(body)
    except PollingValidationError as exc:
        raise invalid(exc.errors) from None


async def _snapshots(request: Request, rows: list[PollingTargetRow], tenant: str) -> dict[str, dict[str, Any]]:
    """Latest snapshots of these targets; none (not an error) while NATS is unreachable: SQL still answers."""
    bus = state_of(request).bus
    if not rows or not bus.is_ready:
        return {}
    try:
        return await read_snapshots(bus.js, tenant, [r.target_id for r in rows])
    except (nats.errors.Error, TimeoutError, Problem) as exc:
        log.warning("reading polling snapshots failed: %s", type(exc).__name__)
        return {}


async def _response(request: Request, row: PollingTargetRow, status: int = 200) -> JSONResponse:
    snaps = await _snapshots(request, [row], row.tenant)
    headers = TARGET.headers(row.version, row.target_id, created=status == 201)
    return JSONResponse(target_json(row, snaps.get(row.target_id)), status_code=status, headers=headers)


async def _mirror(request: Request, row: PollingTargetRow) -> None:
    await TARGET.mirror(state_of(request).polling_publisher, row, row.target_id)


async def _page(
    request: Request, tenant: str, limit: int, cursor: str | None
) -> tuple[list[PollingTargetRow], int, str | None, dict[str, dict[str, Any]]]:
    after = decode_time_cursor(cursor) if cursor else None
    async with state_of(request).db.read() as session:
        rows, total = await store.list_targets(session, tenant, limit, after)
    last = rows[-1] if len(rows) == limit else None
    next_cursor = time_cursor(last.created_at, last.target_id) if last else None
    return rows, total, next_cursor, await _snapshots(request, rows, tenant)


@router.get(BASE, responses={200: {"model": TargetList, "description": "the tenant's polling targets"}})
async def list_targets(
    request: Request, principal: Principal = Depends(viewer), limit: Limit = 50, cursor: Cursor = None
) -> Response:
    """List polling targets, oldest first, each with its latest poll's time, status and error (`last_error`)."""
    rows, total, next_cursor, snaps = await _page(request, principal.tenant, limit, cursor)
    items = [target_json(r, snaps.get(r.target_id)) for r in rows]
    return JSONResponse(Page(items, total, next_cursor).as_dict())


@router.post(
    BASE,
    status_code=201,
    openapi_extra=_BODY,
    responses={201: {"model": Target, "description": "the created target"}},
)
async def create_target(request: Request, principal: Principal = Depends(editor)) -> Response:
    """Create a polling target; the scheduler leader polls it from its next loop on (when `active`)."""
    spec = parse(await read_json(request))
    now = datetime.now(UTC)
    row = PollingTargetRow(
        target_id=uuid.uuid4().hex,
        tenant=principal.tenant,
        name=spec.name,
        spec=spec.as_dict(),
        version=1,
        created_at=now,
        updated_at=now,
    )
    with TARGET.storing(spec.name):
        async with state_of(request).db.write() as session:
            if await store.name_taken(session, principal.tenant, spec.name):
                raise TARGET.name_conflict(spec.name)
            await state_of(request).quotas.require_room(session, principal.tenant, "polling_targets")
            await store.insert_target(session, row)
            await _audit(session, principal, row, "created", {"after": row.spec}, now)
    await _mirror(request, row)
    return await _response(request, row, 201)


@router.get(
    f"{BASE}/snapshots/latest",
    responses={200: {"model": SnapshotList, "description": "the latest poll of each target"}},
)
async def latest_snapshots(
    request: Request,
    principal: Principal = Depends(viewer),
    target_id: Annotated[str | None, Query(max_length=64, description="one target only")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Response:
    """The latest snapshot of each target: values by sample, when, latency, HTTP status and error."""
    if target_id is not None:
        row = await _get(request, principal.tenant, target_id)
        snaps = await _snapshots(request, [row], principal.tenant)
        return JSONResponse(Page([snapshot_json(row, snaps.get(row.target_id))], 1, None).as_dict())
    rows, total, next_cursor, snaps = await _page(request, principal.tenant, limit, cursor)
    items = [snapshot_json(r, snaps.get(r.target_id)) for r in rows]
    return JSONResponse(Page(items, total, next_cursor).as_dict())


@router.get(f"{BASE}/{{target_id}}", responses={200: {"model": Target, "description": "the target"}})
async def get_target(request: Request, target_id: str, principal: Principal = Depends(viewer)) -> Response:
    """Read one polling target with its latest poll's outcome."""
    return await _response(request, await _get(request, principal.tenant, target_id))


@router.put(
    f"{BASE}/{{target_id}}",
    openapi_extra=_BODY,
    responses={200: {"model": Target, "description": "the target after the change"}},
)
async def replace_target(
    request: Request, target_id: str, if_match: IfMatch = None, principal: Principal = Depends(editor)
) -> Response:
    """Replace a target; `version` or `If-Match` make it conditional (409 when stale)."""
    data = await read_json(request)
    now = datetime.now(UTC)
    with TARGET.storing(name_in(data)):
        async with state_of(request).db.write() as session:
            row = await _current(session, principal.tenant, target_id, data, if_match)
            spec = parse(data).as_dict()
            if spec == row.spec:
                return await _response(request, row)  # nothing changed: no new version
            name = spec["name"]
            if name != row.name and await store.name_taken(session, row.tenant, name, row.target_id):
                raise TARGET.name_conflict(name)
            values: dict[str, Any] = {"name": name, "spec": spec, "version": row.version + 1, "updated_at": now}
            if not await store.update_target(session, row.tenant, row.target_id, row.version, values):
                raise TARGET.busy()
            new = row_with(row, **values)
            change = audit.diff(row.spec, new.spec)
            change["version"] = {"before": row.version, "after": new.version}
            await _audit(session, principal, new, "replaced", change, now)
    await _mirror(request, new)
    return await _response(request, new)


@router.delete(f"{BASE}/{{target_id}}", status_code=204, responses={204: {"description": "deleted"}})
async def delete_target(
    request: Request, target_id: str, if_match: IfMatch = None, principal: Principal = Depends(editor)
) -> Response:
    """Delete a target: it is no longer polled and its snapshot is dropped; its name is free again."""
    data = await read_json(request) if await request.body() else None
    now = datetime.now(UTC)
    async with state_of(request).db.write() as session:
        row = await _current(session, principal.tenant, target_id, data, if_match)
        values = {"version": row.version + 1, "updated_at": now, "deleted_at": now}
        if not await store.update_target(session, row.tenant, row.target_id, row.version, values):
            raise TARGET.busy()
        deleted = row_with(row, **values)
        await _audit(session, principal, deleted, "deleted", {"before": row.spec}, now)
    await _mirror(request, deleted)
    return Response(status_code=204)


async def _get(request: Request, tenant: str, target_id: str) -> PollingTargetRow:
    if not subjects.RULE_ID_PATTERN.match(target_id):
        raise TARGET.not_found(target_id)
    async with state_of(request).db.read() as session:
        row = await store.get_target(session, tenant, target_id)
    if row is None:
        raise TARGET.not_found(target_id)
    return row


async def _current(session: Any, tenant: str, target_id: str, data: Any, if_match: str | None) -> PollingTargetRow:
    """The live row, locked for this write; 404 when the tenant has no such target, 409 when a version is stale."""
    row = await store.get_target(session, tenant, target_id, for_update=True)
    return TARGET.current(row, target_id, data, if_match)


async def _audit(
    session: Any, principal: Principal, row: PollingTargetRow, action: str, change: dict[str, Any], at: datetime
) -> None:
    await TARGET.audit(session, principal, (row.tenant, row.target_id), action, change, at)
