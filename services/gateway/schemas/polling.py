"""Wire models of the metric-polling routes: the target body (create, replace), a target and a snapshot as
returned (for the OpenAPI document), and the JSON views of a stored target and its latest snapshot."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from services.common.db.tables import PollingTargetRow
from services.common.domain.schedules.polling import FORMATS
from services.gateway.row_codec import rfc3339


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
