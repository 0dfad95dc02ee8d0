"""The audit log: one row per change to a tenant's resources, written in the change's own transaction."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.common.db.tables import AuditRow


@dataclass(frozen=True)
class Actor:
    """Who made a change: the token id and its name (the platform admin is `platform-admin`)."""

    token_id: str
    name: str


async def record(
    session: AsyncSession,
    *,
    tenant: str,
    actor: Actor,
    kind: str,
    resource_id: str,
    action: str,
    change: Mapping[str, Any],
    at: datetime,
) -> None:
    """Add an audit row to the session (it commits with the change it describes)."""
    session.add(
        AuditRow(
            tenant=tenant,
            actor_token_id=actor.token_id,
            actor_name=actor.name,
            resource_kind=kind,
            resource_id=resource_id,
            action=action,
            change=dict(change),
            at=at,
        )
    )
    await session.flush()


async def list_audit(
    session: AsyncSession,
    tenant: str,
    *,
    kind: str | None,
    resource_id: str | None,
    since: datetime | None,
    limit: int,
    before_id: int | None,
) -> tuple[list[AuditRow], int]:
    """A tenant's audit rows, newest first, filtered, with the total count."""
    query = select(AuditRow).where(col(AuditRow.tenant) == tenant)
    if kind is not None:
        query = query.where(col(AuditRow.resource_kind) == kind)
    if resource_id is not None:
        query = query.where(col(AuditRow.resource_id) == resource_id)
    if since is not None:
        query = query.where(col(AuditRow.at) >= since)
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    if before_id is not None:
        query = query.where(col(AuditRow.id) < before_id)
    rows = (await session.execute(query.order_by(col(AuditRow.id).desc()).limit(limit))).scalars()
    return list(rows), total


def diff(before: Mapping[str, Any], after: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """The changed fields between two JSON objects, by dotted path: `{"trigger_spec.threshold": {"before", "after"}}`.

    Nested objects are compared field by field; lists and scalars as whole values.
    """
    changes: dict[str, Any] = {}
    for key in sorted(set(before) | set(after), key=str):
        old, new = before.get(key), after.get(key)
        path = f"{prefix}{key}"
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            changes.update(diff(old, new, f"{path}."))
        elif old != new or type(old) is not type(new):
            changes[path] = {"before": old, "after": new}
    return changes
