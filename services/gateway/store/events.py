"""SQL access for events and the transitions applied to them: idempotent recording, lists, ACK and feedback."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.common.db.tables import EventRow, TransitionRow
from services.common.domain.lifecycle import ack_sla
from services.common.domain.lifecycle.transitions import Transition
from services.common.messages.alerts import Action
from services.common.messages.delivery import DeliveryResult
from services.common.messages.feed import FeedType, feed
from services.gateway import row_codec
from services.gateway.recorders import event_record
from services.gateway.store.event_filters import EventFilter, matching
from services.gateway.store.portable import dialect_of


@dataclass(frozen=True)
class Alert:
    """A decoded alert message: the transition and the actions of the rule version that produced it."""

    transition: Transition
    actions: list[Action]


@dataclass(frozen=True)
class FeedItem:
    """A feed message to publish for a recorded change: `message` is the encoded `feed` body."""

    transition_id: str
    tenant: str
    kind: FeedType
    message: bytes


def result_id(result: DeliveryResult) -> str:
    """The transitions-row id of a delivery result (its message id, in a namespace of its own)."""
    return f"result:{result.msg_id()}"


def ack_id(event_id: str) -> str:
    """The transitions-row id of an event's ACK: one per event, which also makes concurrent ACKs agree."""
    return f"ack:{event_id}"


def feed_item(transition_id: str, kind: str, row: EventRow) -> FeedItem:
    """The feed message of a change, with the Event JSON as it stands now (encoded at once: later changes
    to the row must not leak into it)."""
    feed_kind = cast(FeedType, kind)
    return FeedItem(transition_id, row.tenant, feed_kind, feed(feed_kind, row_codec.event_json(row)))


async def _existing(session: AsyncSession, ids: Iterable[str]) -> dict[str, TransitionRow]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    rows = (await session.execute(select(TransitionRow).where(col(TransitionRow.transition_id).in_(wanted)))).scalars()
    return {row.transition_id: row for row in rows}


async def _kinds(session: AsyncSession, ids: Iterable[str]) -> dict[str, str]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    ident = col(TransitionRow.transition_id)
    query = select(ident, col(TransitionRow.kind)).where(ident.in_(wanted))
    return {tid: kind for tid, kind in (await session.execute(query)).all()}


async def _events(session: AsyncSession, ids: Iterable[str]) -> dict[str, EventRow]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    query = select(EventRow).where(col(EventRow.event_id).in_(wanted)).with_for_update()
    return {row.event_id: row for row in (await session.execute(query)).scalars()}


def _transition_values(
    transition_id: str, row: EventRow, kind: str, at: datetime, data: dict[str, Any], now: datetime
) -> dict[str, Any]:
    return {
        "transition_id": transition_id,
        "event_id": row.event_id,
        "tenant": row.tenant,
        "kind": kind,
        "at": at,
        "recorded_at": now,
        "data": data,
        "fed": False,
    }


def _transition_row(
    transition_id: str, row: EventRow, kind: str, at: datetime, data: dict[str, Any], now: datetime
) -> TransitionRow:
    return TransitionRow(**_transition_values(transition_id, row, kind, at, data, now))


async def _insert_transitions(session: AsyncSession, values: list[dict[str, Any]]) -> None:
    """Flush the event rows, then insert a batch's transition rows in one statement (no ORM object per row:
    building SQLModel objects was most of the recorder's cost per alert)."""
    await session.flush()
    if values:
        await session.execute(insert(TransitionRow), values)


async def record_alerts(
    session: AsyncSession,
    alerts: Sequence[Alert],
    now: datetime,
    annotations: Mapping[str, Mapping[str, str]] | None = None,
) -> list[FeedItem]:
    """Apply each alert transition not recorded before to its event, in order; return the feed messages due.

    `annotations` are the rendered annotations of the events that fire, by event id (annotation_renders.py).

    A transition already recorded is skipped (redelivery, a duplicate publish); if its feed message never
    went out (a crash between commit and publish), it is due again, with the event as it stands now.
    """
    existing = await _existing(session, (a.transition.transition_id for a in alerts))
    events = await _events(session, (a.transition.event_id for a in alerts))
    items: list[FeedItem] = []
    inserts: list[dict[str, Any]] = []
    seen: set[str] = set()
    for alert in alerts:
        transition = alert.transition
        tid = transition.transition_id
        if tid in seen:
            continue
        seen.add(tid)
        old = existing.get(tid)
        if old is not None:
            if not old.fed and transition.event_id in events:
                items.append(feed_item(tid, old.kind, events[transition.event_id]))
            continue
        row = events.get(transition.event_id)
        rendered = (annotations or {}).get(transition.event_id)
        if row is None:
            row = event_record.open_event(transition, alert.actions, rendered)
            session.add(row)
            events[transition.event_id] = row
        else:
            event_record.apply_transition(row, transition, alert.actions)
            event_record.add_annotations(row, rendered)
        data = event_record.alert_data(transition, alert.actions)
        inserts.append(_transition_values(tid, row, transition.kind, transition.at, data, now))
        items.append(feed_item(tid, transition.kind, row))
    await _insert_transitions(session, inserts)
    return items


async def record_results(
    session: AsyncSession, results: Sequence[DeliveryResult], now: datetime
) -> tuple[list[FeedItem], set[int]]:
    """Fold delivery results into their events' notifications; return the feed messages due and the indexes
    of results that must wait (their event or transition is not recorded yet: the notifier may be faster)."""
    existing = await _existing(session, (result_id(r) for r in results))
    kinds = await _kinds(session, (r.transition_id for r in results))
    events = await _events(session, (r.event_id for r in results))
    items: list[FeedItem] = []
    waiting: set[int] = set()
    inserts: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, result in enumerate(results):
        rid = result_id(result)
        if rid in seen:
            continue
        seen.add(rid)
        old = existing.get(rid)
        row = events.get(result.event_id)
        if old is not None:
            if not old.fed and row is not None:
                items.append(feed_item(rid, "notification", row))
            continue
        kind = kinds.get(result.transition_id)
        if row is None or kind is None or row.tenant != result.tenant:
            waiting.add(index)
            continue
        event_record.apply_result(row, kind, result)
        inserts.append(_transition_values(rid, row, "notification", result.at, result.as_dict(), now))
        items.append(feed_item(rid, "notification", row))
    await _insert_transitions(session, inserts)
    return items, waiting


async def unfed(session: AsyncSession, limit: int) -> list[FeedItem]:
    """Recorded changes whose feed message has not gone out, oldest first, with their events as they are now."""
    query = (
        select(TransitionRow, EventRow)
        .join(EventRow, col(EventRow.event_id) == col(TransitionRow.event_id))
        .where(col(TransitionRow.fed).is_(False))
        .order_by(col(TransitionRow.recorded_at), col(TransitionRow.at))
        .limit(limit)
    )
    rows = (await session.execute(query)).all()
    return [feed_item(t.transition_id, t.kind, e) for t, e in rows]


async def mark_fed(session: AsyncSession, ids: Sequence[str]) -> None:
    """Note that these changes reached the feed."""
    if ids:
        statement = update(TransitionRow).where(col(TransitionRow.transition_id).in_(list(ids))).values(fed=True)
        await session.execute(statement)


async def get_event(session: AsyncSession, tenant: str, event_id: str, *, for_update: bool = False) -> EventRow | None:
    """One event of a tenant (None for another tenant's id)."""
    query = select(EventRow).where(col(EventRow.event_id) == event_id, col(EventRow.tenant) == tenant)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def list_events(
    session: AsyncSession, tenant: str, filters: EventFilter, limit: int, before: tuple[datetime, str] | None
) -> tuple[list[EventRow], int]:
    """A tenant's events, newest first (fired_at, then id), filtered, `limit` of them after a cursor; and the total."""
    query = select(EventRow).where(matching(tenant, filters, dialect_of(session)))
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    if before is not None:
        at, ident = before
        fired, event_id = col(EventRow.fired_at), col(EventRow.event_id)
        query = query.where(or_(fired < at, and_(fired == at, event_id < ident)))
    query = query.order_by(col(EventRow.fired_at).desc(), col(EventRow.event_id).desc()).limit(limit)
    return list((await session.execute(query)).scalars()), total


async def acknowledge(
    session: AsyncSession, tenant: str, event_id: str, actor: str, note: str | None, now: datetime
) -> tuple[EventRow | None, FeedItem | None]:
    """ACK an event: the row (None when not visible) and the feed message due (None for a repeated ACK)."""
    row = await get_event(session, tenant, event_id, for_update=True)
    if row is None or not event_record.acknowledge(row, actor, note, now):
        return row, None
    tid = ack_id(event_id)
    session.add(_transition_row(tid, row, "acked", now, {"actor": actor, "note": note}, now))
    await session.flush()
    return row, feed_item(tid, "acked", row)


async def record_sla_breaches(
    session: AsyncSession, breaches: Sequence[ack_sla.Breach], now: datetime
) -> list[FeedItem]:
    """Note each ACK-SLA breach (already published) on its event, once: a transitions row `sla:<event id>` of kind
    `updated` (its feed message) with the breach event as data, and a `sla_breached` history entry.

    The events are locked first, so a second gateway recording the same breach waits, then sees the row and
    skips it. A breach is recorded even if the event was acked meanwhile: it did go out, late ACK or not.
    """
    events = await _events(session, (b.event.event_id for b in breaches))
    done = set(await _existing(session, (b.msg_id for b in breaches)))
    items: list[FeedItem] = []
    for breach in breaches:
        row = events.get(breach.event.event_id)
        if row is None or row.tenant != breach.event.tenant or breach.msg_id in done:
            continue
        done.add(breach.msg_id)
        row.history = ack_sla.with_entry(row.history, breach.history_entry())
        data = {"sla_breached": breach.payload()}
        session.add(_transition_row(breach.msg_id, row, "updated", breach.due_at, data, now))
        items.append(feed_item(breach.msg_id, "updated", row))
    await session.flush()
    return items


async def set_feedback(
    session: AsyncSession, tenant: str, event_id: str, label: str, note: str | None, actor: str, now: datetime
) -> EventRow | None:
    """Record precision feedback on an event; None when it is not visible to the tenant."""
    row = await get_event(session, tenant, event_id, for_update=True)
    if row is not None:
        event_record.set_feedback(row, label, note, actor, now)
        await session.flush()
    return row
