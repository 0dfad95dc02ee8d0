"""Scheduler routes: status figures, live instances and the run list (viewer; runs are tenant-scoped).

Instance ids are `host:pid`: only the platform admin sees them; every other caller sees opaque instance names.

Runs and their figures come from SQL (the run recorder), the leader and the instances from the scheduler's live
KV bucket; the gateway does not call the scheduler over gRPC for these.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import nats.errors
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from services.common.db.tables import ScheduleRunRow
from services.common.domain.events.model import format_time
from services.common.domain.rules.durations import parse_duration
from services.common.domain.schedules.cron import LATE_AFTER_MS
from services.gateway.auth import Principal, viewer
from services.gateway.instance_names import naming
from services.gateway.live.scheduler_replicas import read_live
from services.gateway.rest.paging import Cursor, Limit, Page, decode_time_cursor, time_cursor
from services.gateway.rest.problems import Problem, invalid_field
from services.gateway.rest.times import UtcTime
from services.gateway.state import state_of
from services.gateway.store import schedule_runs as store

router = APIRouter(tags=["scheduler"])
DEFAULT_WINDOW = "24h"
RunStatusName = Literal["fired", "caught_up", "missed"]


class DelayFigures(BaseModel):
    p50: float | None
    p99: float | None
    max: float | None = None


class SchedulerStatus(BaseModel):
    """The scheduler's health for the tenant over `window` (runs by scheduled time)."""

    leader: str | None
    leader_fencing: int | None = None
    leader_since: str | None = None
    instances: int
    instance_ids: list[str]
    runs: int
    missed_runs: int
    late_runs: int
    caught_up_runs: int
    duplicate_runs: int
    delay_ms: DelayFigures
    runs_by_instance: dict[str, int]
    last_run_at: str | None
    window: str
    since: str
    late_after_ms: float


class SchedulerInstance(BaseModel):
    instance: str
    host: str | None = None
    pid: int | None = None
    role: str | None = None
    leader: bool
    started_at: str | None = None
    seen_at: str | None = None
    fencing: int | None = None
    rules: int | None = None


class InstanceList(BaseModel):
    items: list[SchedulerInstance]
    total: int
    next_cursor: str | None = None


class ScheduleRun(BaseModel):
    rule_id: str
    rule_version: int
    scheduled_at: str
    started_at: str | None
    delay_ms: float | None
    instance: str
    status: RunStatusName
    fencing: int
    duplicates: int


class RunList(BaseModel):
    items: list[ScheduleRun]
    total: int
    next_cursor: str | None = None


async def _live(request: Request) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    js = state_of(request).bus.js  # a 503 problem while NATS is down
    try:
        return await read_live(js)
    except (nats.errors.Error, TimeoutError) as exc:
        raise Problem(503, f"the scheduler's live bucket could not be read ({exc})", kind="unavailable") from None


def _window(text: str) -> timedelta:
    try:
        return timedelta(seconds=parse_duration(text))
    except ValueError as exc:
        raise invalid_field(("window",), str(exc)) from None


@router.get("/cep/scheduler/status", responses={200: {"model": SchedulerStatus, "description": "figures"}})
async def scheduler_status(
    request: Request,
    principal: Principal = Depends(viewer),
    rule_id: Annotated[str | None, Query(max_length=64)] = None,
    window: Annotated[str, Query(max_length=16, description="runs scheduled within this duration (`24h`)")] = (
        DEFAULT_WINDOW
    ),
    late_ms: Annotated[float, Query(ge=0, description="a run later than this counts as late")] = LATE_AFTER_MS,
) -> Response:
    """Leader, live instances, and the tenant's runs, missed and late runs, delay p50/p99 and runs per instance."""
    since = datetime.now(UTC) - _window(window)
    async with state_of(request).db.read() as session:
        figures = await store.figures(session, principal.tenant, store.RunFilter(rule_id, since=since), late_ms)
    leader, instances = await _live(request)
    name = naming(request, principal)
    body = {
        "leader": name(str(leader["instance"])) if leader and leader.get("instance") else None,
        "leader_fencing": leader.get("fencing") if leader else None,
        "leader_since": leader.get("since") if leader else None,
        "instances": len(instances),
        "instance_ids": [name(str(i.get("instance"))) for i in instances],
        "runs": figures.runs,
        "missed_runs": figures.missed_runs,
        "late_runs": figures.late_runs,
        "caught_up_runs": figures.caught_up_runs,
        "duplicate_runs": figures.duplicate_runs,
        "delay_ms": {"p50": figures.p50, "p99": figures.p99, "max": figures.max_delay},
        "runs_by_instance": _renamed(figures.runs_by_instance, name),
        "last_run_at": None if figures.last_run_at is None else format_time(figures.last_run_at),
        "window": window,
        "since": format_time(since),
        "late_after_ms": late_ms,
    }
    return JSONResponse(body)


@router.get("/cep/scheduler/instances", responses={200: {"model": InstanceList, "description": "live replicas"}})
async def scheduler_instances(request: Request, principal: Principal = Depends(viewer)) -> Response:
    """The scheduler replicas alive now (a heartbeat within one lease period), the leader marked.

    Hosts, pids and rule counts are the platform's: only the platform admin sees them, and the instance ids they
    are made of; anyone else gets opaque instance names (the ones the status and the runs use) and nulls.
    """
    _, instances = await _live(request)
    items = [SchedulerInstance.model_validate(i) for i in instances if i.get("instance")]
    if not principal.platform_admin:
        name = naming(request, principal)
        items = [
            i.model_copy(update={"instance": name(i.instance), "host": None, "pid": None, "rules": None}) for i in items
        ]
    return JSONResponse(Page([i.model_dump() for i in items], len(items), None).as_dict())


@router.get("/cep/scheduler/runs", responses={200: {"model": RunList, "description": "runs, newest first"}})
async def scheduler_runs(
    request: Request,
    principal: Principal = Depends(viewer),
    rule_id: Annotated[str | None, Query(max_length=64)] = None,
    status: RunStatusName | None = None,
    since: Annotated[UtcTime | None, Query(description="RFC 3339; runs scheduled at or after it")] = None,
    until: Annotated[UtcTime | None, Query(description="RFC 3339; runs scheduled at or before it")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Response:
    """The tenant's schedule runs, newest scheduled time first, by rule, status and time."""
    before = decode_time_cursor(cursor) if cursor else None
    filters = store.RunFilter(rule_id, status, _utc(since), _utc(until))
    async with state_of(request).db.read() as session:
        rows, total = await store.list_runs(session, principal.tenant, filters, limit, before)
    last = rows[-1] if len(rows) == limit else None
    next_cursor = time_cursor(last.scheduled_at, last.rule_id) if last else None
    name = naming(request, principal)
    return JSONResponse(Page([run_json(r, name) for r in rows], total, next_cursor).as_dict())


def run_json(row: ScheduleRunRow, name: Callable[[str], str] = str) -> dict[str, Any]:
    """A run as the API shows it; `name` is how the caller sees instance ids (see `naming`)."""
    return {
        "rule_id": row.rule_id,
        "rule_version": row.rule_version,
        "scheduled_at": format_time(row.scheduled_at),
        "started_at": None if row.started_at is None else format_time(row.started_at),
        "delay_ms": row.delay_ms,
        "instance": name(row.instance),
        "status": row.status,
        "fencing": row.fencing,
        "duplicates": row.duplicates,
    }


def _renamed(counts: dict[str, int], name: Callable[[str], str]) -> dict[str, int]:
    renamed: dict[str, int] = {}
    for instance, count in counts.items():
        renamed[name(instance)] = renamed.get(name(instance), 0) + count
    return renamed


def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
