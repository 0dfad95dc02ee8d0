"""Dead letters in SQL: recorded once per id from CEP_DEAD, listed newest first, replay-marked, deleted.

Recording a new letter of source `rule_failure`, `series_refused` or `pattern_dropped` also counts it on its rule
(`error_count`, `last_error`, `last_error_at`), in the same transaction: a redelivered letter counts once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.common.db.tables import DeadLetterRow, RuleRow
from services.common.messages.dead_letters import DeadLetter

ON_RULE = ("rule_failure", "series_refused", "pattern_dropped")  # letters that count on their rule's error state


@dataclass(frozen=True)
class LetterFilter:
    source: str | None = None
    rule_id: str | None = None


def row_of(letter: DeadLetter, now: datetime) -> DeadLetterRow:
    return DeadLetterRow(
        id=letter.id,
        tenant=letter.tenant,
        source=letter.source,
        rule_id=letter.rule_id,
        error=letter.error,
        at=letter.at,
        recorded_at=now,
        event=letter.event,
        origin=letter.origin,
        replay=None if letter.replay is None else letter.replay.as_dict(),
    )


async def record(session: AsyncSession, letters: Sequence[DeadLetter], now: datetime) -> int:
    """Add the letters not stored yet (by id); returns how many were new."""
    ids = {letter.id for letter in letters}
    known = set((await session.execute(select(col(DeadLetterRow.id)).where(col(DeadLetterRow.id).in_(ids)))).scalars())
    new = 0
    for letter in letters:
        if letter.id in known:
            continue
        known.add(letter.id)
        session.add(row_of(letter, now))
        new += 1
        if letter.source in ON_RULE and letter.rule_id is not None:
            await _count_on_rule(session, letter)
    await session.flush()
    return new


async def _count_on_rule(session: AsyncSession, letter: DeadLetter) -> None:
    rule = (col(RuleRow.rule_id) == letter.rule_id, col(RuleRow.tenant) == letter.tenant)
    await session.execute(update(RuleRow).where(*rule).values(error_count=col(RuleRow.error_count) + 1))
    later = or_(col(RuleRow.last_error_at).is_(None), col(RuleRow.last_error_at) <= letter.at)
    await session.execute(update(RuleRow).where(*rule, later).values(last_error=letter.error, last_error_at=letter.at))


async def list_letters(
    session: AsyncSession, tenant: str, filters: LetterFilter, limit: int, before: tuple[datetime, str] | None
) -> tuple[list[DeadLetterRow], int]:
    """A tenant's dead letters, newest first (keyset on at, id), and the total matching the filters."""
    query = select(DeadLetterRow).where(col(DeadLetterRow.tenant) == tenant)
    if filters.source is not None:
        query = query.where(col(DeadLetterRow.source) == filters.source)
    if filters.rule_id is not None:
        query = query.where(col(DeadLetterRow.rule_id) == filters.rule_id)
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    if before is not None:
        at, ident = before
        at_col, id_col = col(DeadLetterRow.at), col(DeadLetterRow.id)
        query = query.where(or_(at_col < at, and_(at_col == at, id_col < ident)))
    query = query.order_by(col(DeadLetterRow.at).desc(), col(DeadLetterRow.id).desc()).limit(limit)
    return list((await session.execute(query)).scalars()), total


async def get_letter(session: AsyncSession, tenant: str, letter_id: str) -> DeadLetterRow | None:
    """One dead letter of the tenant (None for any other tenant's)."""
    row = await session.get(DeadLetterRow, letter_id)
    return row if row is not None and row.tenant == tenant else None


async def mark_replayed(session: AsyncSession, row: DeadLetterRow, by: str, now: datetime) -> None:
    row.replay_count += 1
    row.replayed_at, row.replayed_by = now, by
    session.add(row)
    await session.flush()


async def delete_letter(session: AsyncSession, row: DeadLetterRow) -> None:
    await session.delete(row)
    await session.flush()
