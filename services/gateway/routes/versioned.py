"""The steps shared by the routes of versioned, named resources that are mirrored into a KV bucket.

Channels and polling targets are written the same way: a name unique in the tenant (409 naming `name`), a version
that `If-Match` or the body's `version` make the write conditional on (409 when stale), a soft delete, an audit
record in the same transaction, and a mirror into the bucket after the commit. A `Resource` holds what differs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from services.gateway.auth import Principal
from services.gateway.publishers.kv_publisher import KvPublisher
from services.gateway.rest.merge import expected_versions
from services.gateway.rest.problems import Problem, name_conflict, not_found, stale
from services.gateway.store import audit

log = logging.getLogger(__name__)


class Versioned(Protocol):
    @property
    def version(self) -> int: ...


Row = TypeVar("Row", bound=BaseModel)
Current = TypeVar("Current", bound=Versioned)


@dataclass(frozen=True)
class Resource:
    """One kind of resource: how problems and the audit log name it, and where it lives."""

    noun: str  # "polling target": in 404s and name conflicts
    short: str  # "target": in the retry problems
    kind: str  # the audit log's resource kind
    base: str  # the collection's path

    def name_conflict(self, name: str) -> Problem:
        """A 409 naming `name`: another live resource of the tenant already has it."""
        return name_conflict(self.noun, name)

    def storage_problem(self, exc: SQLAlchemyError) -> Problem:
        """A 503 for a failed write; SQLAlchemy's message lists the statement's parameters, secrets included, so
        only its class is logged."""
        log.error("storing a %s failed: %s", self.noun, type(exc).__name__)
        detail = f"the {self.short} could not be stored; retry"
        return Problem(503, detail, kind="unavailable", headers={"Retry-After": "1"})

    @contextmanager
    def storing(self, name: str) -> Iterator[None]:
        """Turn a failed write into a problem: a lost race for the unique `name` (409), or the database (503)."""
        try:
            yield
        except IntegrityError:
            raise self.name_conflict(name) from None
        except SQLAlchemyError as exc:
            raise self.storage_problem(exc) from None

    def busy(self) -> Problem:
        """A 503: the row changed between the locked read and the conditional update."""
        return Problem(503, f"the {self.short} is being changed concurrently; retry", headers={"Retry-After": "1"})

    def not_found(self, ident: str) -> Problem:
        return not_found(f"{self.noun} {ident!r}")

    def current(self, row: Current | None, ident: str, data: Any, if_match: str | None) -> Current:
        """The row read for a write: 404 when the tenant has none, 409 when an expected version is stale."""
        if row is None:
            raise self.not_found(ident)
        for version in expected_versions(data if isinstance(data, dict) else None, if_match):
            if version != row.version:
                raise stale(row.version, version)
        return row

    def headers(self, version: int, ident: str, created: bool) -> dict[str, str]:
        """The ETag of a returned version, and the Location of a created resource."""
        headers = {"ETag": f'"{version}"'}
        if created:
            headers["Location"] = f"{self.base}/{ident}"
        return headers

    async def audit(
        self,
        session: AsyncSession,
        principal: Principal,
        resource: tuple[str, str],
        action: str,
        change: dict[str, Any],
        at: datetime,
    ) -> None:
        """Record a change of the resource `(tenant, id)` in the audit log, in the write's transaction."""
        tenant, ident = resource
        await audit.record(
            session,
            tenant=tenant,
            actor=principal.actor,
            kind=self.kind,
            resource_id=ident,
            action=action,
            change=change,
            at=at,
        )

    async def mirror(self, publisher: KvPublisher[Row], row: Row, ident: str, previous: Row | None = None) -> None:
        """Mirror a committed change into the bucket. A failure must not turn the committed change into an error:
        it is logged, and the publisher's reconciliation repairs the bucket within one interval."""
        try:
            await publisher.publish(row, previous)
        except Exception as exc:
            log.warning("mirroring %s %s into the bucket failed (%s)", self.noun, ident, type(exc).__name__)


def row_with(row: Row, **values: Any) -> Row:
    """A copy of a row with some columns changed (the row as the write left it)."""
    return type(row)(**{**{name: getattr(row, name) for name in type(row).model_fields}, **values})


def name_in(body: Any) -> str:
    """The name a create or replace body asks for, as a name conflict quotes it."""
    return str(body.get("name")) if isinstance(body, dict) else ""
