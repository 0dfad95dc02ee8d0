"""Rule writes: validate, store the row and its version, audit, all in one transaction, then tell listeners."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db.sql_engine import Database
from services.common.db.tables import RuleRow, RuleVersionRow
from services.common.domain.rules.errors import RuleValidationError
from services.common.domain.rules.model import Rule, RuleSpec, parse_rule
from services.gateway import row_codec
from services.gateway.quota_limits import QuotaLimits
from services.gateway.rest.merge import merge_patch
from services.gateway.rest.problems import Problem, invalid, name_conflict, not_found, stale
from services.gateway.store import audit
from services.gateway.store import rules as store
from services.gateway.store.audit import Actor

log = logging.getLogger(__name__)

ChangeKind = Literal["created", "replaced", "patched", "deleted"]
_RETRIES = 5  # for writes without a client version that lose a race on PostgreSQL


@dataclass(frozen=True)
class RuleChange:
    """A committed rule change; `rule` is the new version (for a deletion: the deleted rule at its last version)."""

    kind: ChangeKind
    rule: Rule

    @property
    def tenant(self) -> str:
        return self.rule.tenant

    @property
    def rule_id(self) -> str:
        return self.rule.rule_id


RuleHook = Callable[[RuleChange], Awaitable[None]]


def _busy() -> Problem:
    return Problem(503, "the rule is being changed concurrently; retry", kind="busy", headers={"Retry-After": "1"})


def validate(body: Any, prefix: tuple[str | int, ...] = ()) -> RuleSpec:
    """`parse_rule`, with its errors as a 422 problem."""
    try:
        return parse_rule(body)
    except RuleValidationError as exc:
        raise invalid(exc.errors, prefix) from None
    except RecursionError:
        raise Problem(422, "the rule is nested too deeply", kind="validation") from None


def patched(current: dict[str, Any], patch: dict[str, Any]) -> RuleSpec:
    """A rule's canonical spec with a JSON merge patch applied, validated (422 naming the fields)."""
    base = dict(current)
    # A new trigger type makes the old trigger fields meaningless: replace the spec, do not merge.
    if patch.get("trigger_type", base["trigger_type"]) != base["trigger_type"] and "trigger_spec" in patch:
        base["trigger_spec"] = {}
    return validate(merge_patch(base, patch))


@dataclass
class RuleWriter:
    """Every rule write of the gateway; hooks run after the commit (they publish rules to the services).

    With `quotas`, a create past the tenant's `rules` quota is refused (429), whichever route it came through.
    """

    db: Database
    hooks: list[RuleHook] = field(default_factory=list)
    quotas: QuotaLimits | None = None

    async def create(
        self, tenant: str, actor: Actor, spec: RuleSpec, now: datetime, *, rule_id: str | None = None
    ) -> Rule:
        """Store a new rule at version 1 (`rule_id`: only the server's own rules choose theirs, never a client)."""
        row = row_codec.new_rule_row(spec, rule_id=rule_id or uuid.uuid4().hex, tenant=tenant, now=now)
        rule = row_codec.rule_from_row(row)
        try:
            async with self.db.write() as session:
                if await store.name_taken(session, tenant, spec.name):
                    raise name_conflict("rule", spec.name)
                if self.quotas is not None:
                    await self.quotas.require_room(session, tenant, "rules")
                await store.insert_rule(session, row)
                await self._record(session, rule, "created", actor, now, {"after": spec.canonical()})
        except IntegrityError:
            raise name_conflict("rule", spec.name) from None
        await self._notify(RuleChange("created", rule))
        return rule

    async def replace(
        self, tenant: str, actor: Actor, rule_id: str, spec: RuleSpec, expected: list[int], now: datetime
    ) -> Rule:
        """Replace a rule's writable fields (PUT)."""
        return await self._update(tenant, actor, rule_id, expected, now, "replaced", lambda _current: spec)

    async def patch(
        self, tenant: str, actor: Actor, rule_id: str, patch: dict[str, Any], expected: list[int], now: datetime
    ) -> Rule:
        """Apply a JSON merge patch to the current spec and re-validate it (PATCH)."""

        return await self._update(tenant, actor, rule_id, expected, now, "patched", lambda c: patched(c, patch))

    async def delete(self, tenant: str, actor: Actor, rule_id: str, expected: list[int], now: datetime) -> None:
        """Soft-delete a rule: it disappears from every read, its versions stay, and its name is free again."""
        for attempt in range(_RETRIES):
            async with self.db.write() as session:
                row = await self._current(session, tenant, rule_id, expected)
                version = row.version + 1
                rule = row_codec.rule_from_row(row).model_copy(update={"version": version, "updated_at": now})
                values = {"version": version, "deleted_at": now, "updated_at": now}
                deleted = await store.update_rule(session, tenant, rule_id, row.version, values)
                if deleted:
                    await self._record(session, rule, "deleted", actor, now, {"before": row.spec})
            if not deleted:
                self._lost_race(attempt, expected, row.version)
                continue
            await self._notify(RuleChange("deleted", rule))
            return
        raise _busy()

    async def _update(
        self,
        tenant: str,
        actor: Actor,
        rule_id: str,
        expected: list[int],
        now: datetime,
        kind: ChangeKind,
        make_spec: Callable[[dict[str, Any]], RuleSpec],
    ) -> Rule:
        for attempt in range(_RETRIES):
            async with self.db.write() as session:
                row = await self._current(session, tenant, rule_id, expected)
                spec = make_spec(row.spec)
                if spec.canonical() == row.spec:
                    return row_codec.rule_from_row(row)  # nothing changed: no new version
                rule = await self._write(session, row, spec, kind, actor, now)
            if rule is None:
                self._lost_race(attempt, expected, row.version)
                continue
            await self._notify(RuleChange(kind, rule))
            return rule
        raise _busy()

    async def _write(
        self, session: AsyncSession, row: RuleRow, spec: RuleSpec, kind: ChangeKind, actor: Actor, now: datetime
    ) -> Rule | None:
        """Write the new version if the row is still at the version read; None when another writer won."""
        if spec.name != row.name and await store.name_taken(session, row.tenant, spec.name, row.rule_id):
            raise name_conflict("rule", spec.name)
        values = {**row_codec.rule_columns(spec), "version": row.version + 1, "updated_at": now}
        try:
            if not await store.update_rule(session, row.tenant, row.rule_id, row.version, values):
                return None
        except IntegrityError:
            raise name_conflict("rule", spec.name) from None
        rule = row_codec.make_rule(
            spec,
            rule_id=row.rule_id,
            tenant=row.tenant,
            version=row.version + 1,
            created_at=row.created_at,
            updated_at=now,
        )
        change = audit.diff(row.spec, spec.canonical())
        change["version"] = {"before": row.version, "after": rule.version}
        await self._record(session, rule, kind, actor, now, change)
        return rule

    async def _current(self, session: AsyncSession, tenant: str, rule_id: str, expected: list[int]) -> RuleRow:
        row = await store.get_rule(session, tenant, rule_id, for_update=True)
        if row is None:
            raise not_found(f"rule {rule_id!r}")
        for version in expected:
            if version != row.version:
                raise stale(row.version, version)
        return row

    @staticmethod
    def _lost_race(attempt: int, expected: list[int], read_version: int) -> None:
        # Another writer committed between our read and our UPDATE: a client-asserted version is now stale.
        if expected:
            raise stale(read_version + 1, expected[0])
        log.info("rule write lost a race (attempt %d); retrying", attempt + 1)

    async def _record(
        self, session: AsyncSession, rule: Rule, kind: ChangeKind, actor: Actor, now: datetime, change: dict[str, Any]
    ) -> None:
        version = RuleVersionRow(
            rule_id=rule.rule_id,
            tenant=rule.tenant,
            version=rule.version,
            change=kind,
            rule=rule.canonical(),
            actor_token_id=actor.token_id,
            actor_name=actor.name,
            at=now,
        )
        await store.add_version(session, version)
        await audit.record(
            session,
            tenant=rule.tenant,
            actor=actor,
            kind="rule",
            resource_id=rule.rule_id,
            action=kind,
            change=change,
            at=now,
        )

    async def _notify(self, change: RuleChange) -> None:
        for hook in self.hooks:
            try:
                await hook(change)
            except Exception:  # the change is committed; a listener failing must not turn it into an error
                log.exception("rule hook failed for %s %s", change.kind, change.rule_id)
