"""Storing silence changes for both APIs (`/cep/silences` and Alertmanager's `/api/v2`): create, edit, expire.

Fixed silences change as Alertmanager's do (services/common/domain/silences/lifecycle.py): an edit that would
rewrite history expires the old silence and stores a new one with a new UUID. A recurring silence is ours: an
edit replaces it in place. Every change is audited in its transaction (kind `silence`) and mirrored into the
`cep-silences` bucket after the commit. A change that stores a new silence is refused (429) when the tenant already
holds its quota of active and pending ones (`silences`, counted with the tenant's row locked, quota_limits.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db.tables import SilenceRow
from services.common.domain.silences.lifecycle import ChangeReason, expire, post
from services.common.domain.silences.model import Silence, SilenceDraft, SilenceState
from services.common.nats import subjects
from services.gateway.auth import Principal
from services.gateway.quota_limits import QuotaLimits
from services.gateway.routes.versioned import Resource, row_with
from services.gateway.schemas.silences import (
    RecurringDraft,
    fixed_silence,
    matchers_json,
    row_state,
    silence_json,
)
from services.gateway.state import GatewayState
from services.gateway.store import audit
from services.gateway.store import silences as store

SILENCE = Resource(noun="silence", short="silence", kind="silence", base="/cep/silences")
KIND_CHANGED = "replaced: a fixed silence became recurring or back"


@dataclass(frozen=True)
class Saved:
    """What a create or edit stored: the silence, why, and the silence it expired (if any)."""

    row: SilenceRow
    reason: str
    expired: SilenceRow | None = None

    @property
    def created(self) -> bool:
        return self.reason != ChangeReason.UPDATED.value


async def create(
    state: GatewayState, principal: Principal, draft: SilenceDraft | RecurringDraft, now: datetime
) -> Saved:
    """Store a new silence (a fixed one whose start is in the past starts now)."""
    async with state.db.write() as session:
        row = await _insert(session, state.quotas, principal, draft, now)
    await _mirror(state, row)
    return Saved(row, ChangeReason.CREATED.value)


async def edit(
    state: GatewayState, principal: Principal, silence_id: str, draft: SilenceDraft | RecurringDraft, now: datetime
) -> Saved:
    """Edit the tenant's silence `silence_id` (404 when it has none): in place, or by a new silence."""
    async with state.db.write() as session:
        previous = await _locked(session, principal.tenant, silence_id)
        saved = await _edit(session, state.quotas, principal, previous, draft, now)
    if saved.expired is not None:
        await _mirror(state, saved.expired)
    await _mirror(state, saved.row)
    return saved


async def expire_silence(state: GatewayState, principal: Principal, silence_id: str, now: datetime) -> SilenceRow:
    """End the tenant's silence now (a pending one starts and ends now); an expired one stays as it is."""
    async with state.db.write() as session:
        row = await _locked(session, principal.tenant, silence_id)
        if row_state(row, now) is SilenceState.EXPIRED:
            return row
        expired = await _expire(session, principal, row, now, "expired")
    await _mirror(state, expired)
    return expired


async def _edit(
    session: AsyncSession,
    quotas: QuotaLimits,
    principal: Principal,
    previous: SilenceRow,
    draft: SilenceDraft | RecurringDraft,
    now: datetime,
) -> Saved:
    if isinstance(draft, RecurringDraft) and previous.recurrence is not None:
        return Saved(await _replace_recurring(session, principal, previous, draft, now), ChangeReason.UPDATED.value)
    if isinstance(draft, RecurringDraft) or previous.recurrence is not None:
        expired = None
        if row_state(previous, now) is not SilenceState.EXPIRED:
            expired = await _expire(session, principal, previous, now, KIND_CHANGED)
        return Saved(await _insert(session, quotas, principal, draft, now, previous.silence_id), KIND_CHANGED, expired)
    change = post(draft.model_copy(update={"id": previous.silence_id}), fixed_silence(previous), now, _new_id())
    if change.reason is ChangeReason.UPDATED:
        values = _fixed_values(change.silence)
        return Saved(await _update(session, principal, previous, values, now, "updated"), change.reason.value)
    expired = None
    if change.expired is not None:
        expired = await _expire(session, principal, previous, now, change.reason.value)
    row = _fixed_row(principal.tenant, change.silence, now)
    await _add(session, quotas, row)
    await _audit(session, principal, row, "created", {"after": silence_json(row, now), "replaces": previous.silence_id})
    return Saved(row, change.reason.value, expired)


async def _insert(
    session: AsyncSession,
    quotas: QuotaLimits,
    principal: Principal,
    draft: SilenceDraft | RecurringDraft,
    now: datetime,
    replaces: str | None = None,
) -> SilenceRow:
    if isinstance(draft, RecurringDraft):
        row = _recurring_row(principal.tenant, _new_id(), draft, now)
    else:
        row = _fixed_row(principal.tenant, post(draft, None, now, _new_id()).silence, now)
    await _add(session, quotas, row)
    change: dict[str, Any] = {"after": silence_json(row, now)}
    if replaces is not None:
        change["replaces"] = replaces
    await _audit(session, principal, row, "created", change)
    return row


async def _add(session: AsyncSession, quotas: QuotaLimits, row: SilenceRow) -> None:
    """Insert a new silence unless the tenant is at its quota. Called after an edit expired the silence it replaces,
    so replacing one at the quota passes, while reviving an expired one there (a new silence) is refused."""
    await quotas.require_room(session, row.tenant, "silences")
    await store.insert_silence(session, row)


async def _replace_recurring(
    session: AsyncSession, principal: Principal, previous: SilenceRow, draft: RecurringDraft, now: datetime
) -> SilenceRow:
    silence = draft.silence
    values = {
        "matchers": matchers_json(silence.matchers),
        "starts_at": silence.starts_at,
        "ends_at": silence.ends_at,
        "recurrence": draft.recurrence,
        "created_by": silence.created_by,
        "comment": silence.comment,
    }
    return await _update(session, principal, previous, values, now, "updated")


async def _expire(
    session: AsyncSession, principal: Principal, row: SilenceRow, now: datetime, reason: str
) -> SilenceRow:
    if row.recurrence is None:
        values = _fixed_values(expire(fixed_silence(row), now))
    else:
        starts_at = now if row_state(row, now) is SilenceState.PENDING else row.starts_at
        values = {"starts_at": starts_at, "ends_at": now}
    return await _update(session, principal, row, values, now, "expired", reason)


async def _update(
    session: AsyncSession,
    principal: Principal,
    row: SilenceRow,
    values: dict[str, Any],
    now: datetime,
    action: str,
    reason: str | None = None,
) -> SilenceRow:
    values = {**values, "version": row.version + 1, "updated_at": now}
    if not await store.update_silence(session, row.tenant, row.silence_id, row.version, values):
        raise SILENCE.busy()
    new = row_with(row, **values)
    change = audit.diff(silence_json(row, now), silence_json(new, now))
    if reason is not None:
        change["reason"] = reason
    await _audit(session, principal, new, action, change)
    return new


async def _locked(session: AsyncSession, tenant: str, silence_id: str) -> SilenceRow:
    row = None
    if subjects.RULE_ID_PATTERN.match(silence_id):
        row = await store.get_silence(session, tenant, silence_id, for_update=True)
    if row is None:
        raise SILENCE.not_found(silence_id)
    return row


def _fixed_values(silence: Silence) -> dict[str, Any]:
    return {
        "matchers": matchers_json(silence.matchers),
        "starts_at": silence.starts_at,
        "ends_at": silence.ends_at,
        "created_by": silence.created_by,
        "comment": silence.comment,
    }


def _fixed_row(tenant: str, silence: Silence, now: datetime) -> SilenceRow:
    return SilenceRow(
        silence_id=silence.id, tenant=tenant, version=1, created_at=now, updated_at=now, **_fixed_values(silence)
    )


def _recurring_row(tenant: str, silence_id: str, draft: RecurringDraft, now: datetime) -> SilenceRow:
    silence = draft.silence
    return SilenceRow(
        silence_id=silence_id,
        tenant=tenant,
        matchers=matchers_json(silence.matchers),
        starts_at=silence.starts_at,
        ends_at=silence.ends_at,
        recurrence=draft.recurrence,
        created_by=silence.created_by,
        comment=silence.comment,
        version=1,
        created_at=now,
        updated_at=now,
    )


def _new_id() -> str:
    return str(uuid.uuid4())


async def _audit(
    session: AsyncSession, principal: Principal, row: SilenceRow, action: str, change: dict[str, Any]
) -> None:
    await SILENCE.audit(session, principal, (row.tenant, row.silence_id), action, change, row.updated_at)


async def _mirror(state: GatewayState, row: SilenceRow) -> None:
    await SILENCE.mirror(state.silence_publisher, row, row.silence_id)
