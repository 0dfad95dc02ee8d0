"""The query-time muting of a tenant's open events: loads the open events, silences and inhibit rules, then asks
the domain (services/common/domain/muting/muting_state.py) which silences and events mute each one now.

A recurring silence mutes only inside its windows: one that mutes now counts as an active silence of this instant;
the others do not count. At most `limit` open events (the newest) are judged and are inhibition sources.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db.tables import SilenceRow
from services.common.domain.inhibition.inhibit_rules import InhibitRule
from services.common.domain.muting.muting_state import Muting, muting_states
from services.common.domain.silences.model import Silence
from services.gateway.schemas.inhibit_rules import to_domain
from services.gateway.schemas.silences import fixed_silence, mutes_now, recurring_silence
from services.gateway.store import inhibit_rules as inhibit_store
from services.gateway.store import silences as silence_store
from services.gateway.store.open_events import OpenEvent, open_event_labels

NOT_MUTED = Muting()


@dataclass(frozen=True)
class MutingNow:
    """The open events judged (newest first), whether more were left out, and each one's muting by event id."""

    events: list[OpenEvent]
    truncated: bool
    by_event: dict[str, Muting]

    def of(self, event_id: str) -> Muting:
        """The muting of an event (an event not open, or left out, is muted by nothing)."""
        return self.by_event.get(event_id, NOT_MUTED)


async def muting_now(
    session: AsyncSession, tenant: str, limit: int, now: datetime, *, events_needed: bool = True
) -> MutingNow:
    """Which silences and open events mute each of the tenant's open events at `now`.

    Without `events_needed`, a tenant with neither silences nor inhibit rules gets no events read: nothing is muted.
    """
    silences, rules = await muting_inputs(session, tenant, now)
    if not events_needed and not rules and not any(silences):
        return MutingNow([], False, {})
    events, truncated = await open_event_labels(session, tenant, limit)
    return muting_of(events, truncated, silences, rules, now)


async def muting_inputs(session: AsyncSession, tenant: str, now: datetime) -> tuple[list[Silence], list[InhibitRule]]:
    """The silences that may mute at `now` (recurring ones only inside a window) and the live inhibit rules."""
    silences = [_silence(row, now) for row in await silence_store.unexpired_silences(session, tenant, now)]
    rules = [to_domain(row.spec) for row in await inhibit_store.live_rules(session, tenant)]
    return [s for s in silences if s is not None], rules


def muting_of(
    events: list[OpenEvent], truncated: bool, silences: list[Silence], rules: list[InhibitRule], now: datetime
) -> MutingNow:
    """The muting of these open events (also the inhibition sources) under these silences and rules."""
    labels = {event.event_id: event.labels for event in events}
    return MutingNow(events, truncated, muting_states(labels, silences, rules, now))


def _silence(row: SilenceRow, now: datetime) -> Silence | None:
    if row.recurrence is None:
        return fixed_silence(row)
    if not mutes_now(row, now):
        return None
    recurring = recurring_silence(row)
    return Silence(
        id=row.silence_id,
        matchers=recurring.matchers,
        starts_at=now,
        ends_at=now,
        created_by=row.created_by,
        comment=row.comment,
        updated_at=row.updated_at,
    )
