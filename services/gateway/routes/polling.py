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
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from services.common.db.tables import PollingTargetRow
from services.common.domain.rules.errors import FieldError
from services.common.domain.schedules.polling import FORMATS, PollingValidationError, TargetSpec, parse_target
from services.common.nats import subjects
from services.gateway.auth import Principal, editor, viewer
from services.gateway.live.polling_snapshots import read_snapshots
from services.gateway.publishers.polling_publisher import PollingPublisher
from services.gateway.rest.bodies import read_json
from services.gateway.rest.merge import expected_versions
from services.gateway.rest.paging import Cursor, Limit, Page, decode_time_cursor, time_cursor
from services.gateway.rest.problems import Problem, invalid, not_found, stale
from services.gateway.row_codec import rfc3339
from services.gateway.store import audit
from services.gateway.store import polling as store

log = logging.getLogger(__name__)
router = APIRouter(tags=["scheduler"])
BASE = "/cep/scheduler/metric-polling"
IfMatch = Annotated[str | None, Header(alias="If-Match", max_length=64)]


class TargetBody(BaseModel):
    """A create or replace body."""

    name: Annotated[str, Field(min_length=1, max_length=200, description="unique among the tenant's targets")]
    url: str = Field(description="http(s) URL polled with GET (through the egress guard)")
    interval: str = Field(description="how often: a duration of at least `1s`")
    timeout: str | None = Field(default=None, description="per poll, at most the interval and 60s (default 5s)")
    format: str = Field(default="json", description=f"one of: {', '.join(FORMATS)}")
    metrics: list[dict[str, str] | str] | None = Field(
        default=None,
        description='json: the values to read, `{"name": metric name, "path": dotted path (default: name)}`; '
        "prometheus: family or sample names to keep (default: every sample, at most 500)",
    )
    labels: dict[str, Any] = Field(default_factory=dict, description="static labels added to every event")
    active: bool = True
    version: int | None = Field(default=None, description="replace only: the version read (409 when stale)")


class PollError(BaseModel):
    kind: str
    detail: str


class Target(BaseModel):
    """A target as returned, with the outcome of its latest poll."""

    target_id: str
    tenant: str
    name: str
    url: str
    interval: str
    timeout: str
    format: str
    metrics: list[Any]
    labels: dict[str, Any]
    active: bool
    version: int
    created_at: str
    updated_at: str
    last_poll_at: str | None
    last_status: str | None = Field(description="`ok` or `error` after the latest poll; null before the first")
    last_error: PollError | None


class TargetList(BaseModel):
    items: list[Target]
    total: int
    next_cursor: str | None


class Snapshot(BaseModel):
    """The latest poll of a target (null fields: not polled yet)."""

    target_id: str
    name: str
    at: str | None
    latency_ms: float | None
    status_code: int | None
    ok: bool | None
    samples: int
    values: dict[str, float]
    problems: list[str]
    error: PollError | None


class SnapshotList(BaseModel):
    items: list[Snapshot]
    total: int
    next_cursor: str | None


_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": TargetBody.model_json_schema()}}}}


def target_json(row: PollingTargetRow, snap: dict[str, Any] | None) -> dict[str, Any]:
    """The API view of a target: its spec, identity, and the outcome of its latest poll."""
    return {
        "target_id": row.target_id,
        "tenant": row.tenant,
        **row.spec,
        "version": row.version,
        "created_at": rfc3339(row.created_at),
        "updated_at": rfc3339(row.updated_at),
        "last_poll_at": snap.get("at") if snap else None,
        "last_status": None if snap is None else ("ok" if snap.get("ok") else "error"),
        "last_error": snap.get("error") if snap else None,
    }


def snapshot_json(row: PollingTargetRow, snap: dict[str, Any] | None) -> dict[str, Any]:
    snap = snap or {}
    return {
        "target_id": row.target_id,
        "name": row.name,
        "at": snap.get("at"),
        "latency_ms": snap.get("latency_ms"),
        "status_code": snap.get("status_code"),
        "ok": snap.get("ok"),
        "samples": snap.get("samples", 0),
        "values": snap.get("values", {}),
        "problems": snap.get("problems", []),
        "error": snap.get("error"),
    }


def parse(body: Any) -> TargetSpec:
    """`parse_target`, with its errors as a 422 problem naming each field (`metrics.0.path`)."""
    try:
        return parse_target(body)
    except PollingValidationError as exc:
        raise invalid(exc.errors) from None


def name_conflict(name: str) -> Problem:
    return Problem(
        409,
        f"a polling target named {name!r} already exists in this tenant",
        errors=[FieldError(("name",), "already used by another polling target")],
        kind="name-conflict",
    )


def _storage_problem(exc: SQLAlchemyError) -> Problem:
    log.error("storing a polling target failed: %s", type(exc).__name__)
    return Problem(503, "the target could not be stored; retry", kind="unavailable", headers={"Retry-After": "1"})


async def _snapshots(request: Request, rows: list[PollingTargetRow], tenant: str) -> dict[str, dict[str, Any]]:
    """Latest snapshots of these targets; none (not an error) while NATS is unreachable: SQL still answers."""
    bus = request.app.state.bus
    if not rows or not bus.is_ready:
        return {}
    try:
        return await read_snapshots(bus.js, tenant, [r.target_id for r in rows])
    except (nats.errors.Error, TimeoutError, Problem) as exc:
        log.warning("reading polling snapshots failed: %s", type(exc).__name__)
        return {}


async def _response(request: Request, row: PollingTargetRow, status: int = 200) -> JSONResponse:
    snaps = await _snapshots(request, [row], row.tenant)
    headers = {"ETag": f'"{row.version}"'}
    if status == 201:
        headers["Location"] = f"{BASE}/{row.target_id}"
    return JSONResponse(target_json(row, snaps.get(row.target_id)), status_code=status, headers=headers)


def _row_with(row: PollingTargetRow, **values: Any) -> PollingTargetRow:
    return PollingTargetRow(**{**{name: getattr(row, name) for name in PollingTargetRow.model_fields}, **values})


async def _mirror(request: Request, row: PollingTargetRow) -> None:
    # The change is committed: a failing mirror must not turn it into an error; reconciliation repairs it.
    try:
        await PollingPublisher(request.app.state.bus, request.app.state.db).publish(row)
    except Exception as exc:
        log.warning("mirroring polling target %s into the bucket failed (%s)", row.target_id, type(exc).__name__)


async def _page(
    request: Request, tenant: str, limit: int, cursor: str | None
) -> tuple[list[PollingTargetRow], int, str | None, dict[str, dict[str, Any]]]:
    after = decode_time_cursor(cursor) if cursor else None
    async with request.app.state.db.read() as session:
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
    try:
        async with request.app.state.db.write() as session:
            if await store.name_taken(session, principal.tenant, spec.name):
                raise name_conflict(spec.name)
            await request.app.state.quotas.require_room(session, principal.tenant, "polling_targets")
            await store.insert_target(session, row)
            await _audit(session, principal, row, "created", {"after": row.spec}, now)
    except IntegrityError:
        raise name_conflict(spec.name) from None
    except SQLAlchemyError as exc:
        raise _storage_problem(exc) from None
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
    try:
        async with request.app.state.db.write() as session:
            row = await _current(session, principal.tenant, target_id, data, if_match)
            spec = parse(data).as_dict()
            if spec == row.spec:
                return await _response(request, row)  # nothing changed: no new version
            name = spec["name"]
            if name != row.name and await store.name_taken(session, row.tenant, name, row.target_id):
                raise name_conflict(name)
            values: dict[str, Any] = {"name": name, "spec": spec, "version": row.version + 1, "updated_at": now}
            if not await store.update_target(session, row.tenant, row.target_id, row.version, values):
                raise Problem(503, "the target is being changed concurrently; retry", headers={"Retry-After": "1"})
            new = _row_with(row, **values)
            change = audit.diff(row.spec, new.spec)
            change["version"] = {"before": row.version, "after": new.version}
            await _audit(session, principal, new, "replaced", change, now)
    except IntegrityError:
        raise name_conflict(str(data.get("name"))) from None
    except SQLAlchemyError as exc:
        raise _storage_problem(exc) from None
    await _mirror(request, new)
    return await _response(request, new)


@router.delete(f"{BASE}/{{target_id}}", status_code=204, responses={204: {"description": "deleted"}})
async def delete_target(
    request: Request, target_id: str, if_match: IfMatch = None, principal: Principal = Depends(editor)
) -> Response:
    """Delete a target: it is no longer polled and its snapshot is dropped; its name is free again."""
    data = await read_json(request) if await request.body() else None
    now = datetime.now(UTC)
    async with request.app.state.db.write() as session:
        row = await _current(session, principal.tenant, target_id, data, if_match)
        values = {"version": row.version + 1, "updated_at": now, "deleted_at": now}
        if not await store.update_target(session, row.tenant, row.target_id, row.version, values):
            raise Problem(503, "the target is being changed concurrently; retry", headers={"Retry-After": "1"})
        deleted = _row_with(row, **values)
        await _audit(session, principal, deleted, "deleted", {"before": row.spec}, now)
    await _mirror(request, deleted)
    return Response(status_code=204)


async def _get(request: Request, tenant: str, target_id: str) -> PollingTargetRow:
    if not subjects.RULE_ID_PATTERN.match(target_id):
        raise not_found(f"polling target {target_id!r}")
    async with request.app.state.db.read() as session:
        row = await store.get_target(session, tenant, target_id)
    if row is None:
        raise not_found(f"polling target {target_id!r}")
    return row


async def _current(session: Any, tenant: str, target_id: str, data: Any, if_match: str | None) -> PollingTargetRow:
    """The live row, locked for this write; 404 when the tenant has no such target, 409 when a version is stale."""
    row = await store.get_target(session, tenant, target_id, for_update=True)
    if row is None:
        raise not_found(f"polling target {target_id!r}")
    for version in expected_versions(data if isinstance(data, dict) else None, if_match):
        if version != row.version:
            raise stale(row.version, version)
    return row


async def _audit(
    session: Any, principal: Principal, row: PollingTargetRow, action: str, change: dict[str, Any], at: datetime
) -> None:
    await audit.record(
        session,
        tenant=row.tenant,
        actor=principal.actor,
        kind="polling_target",
        resource_id=row.target_id,
        action=action,
        change=change,
        at=at,
    )
