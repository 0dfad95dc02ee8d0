"""Measured precision of rules from operators' feedback on their events (true or false positive).

One query serves both `GET /cep/rules/{id}/precision` and the dashboard's anomaly precision (`stats_report`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.common.db.tables import EventRow
from services.gateway.store.event_filters import EventFilter, matching
from services.gateway.store.portable import dialect_of

TRUE_POSITIVE = "true_positive"
FALSE_POSITIVE = "false_positive"


@dataclass(frozen=True)
class RulePrecision:
    """One rule's labelled events: precision = true positives / labelled events (None when none is labelled).

    `rule_name`: the greatest name seen on its events, should it have changed (empty when it has none).
    """

    rule_id: str
    events: int
    labelled: int
    true_positive: int
    false_positive: int
    rule_name: str = ""

    @property
    def precision(self) -> float | None:
        return None if self.labelled == 0 else self.true_positive / self.labelled

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "events": self.events,
            "labelled": self.labelled,
            "true_positive": self.true_positive,
            "false_positive": self.false_positive,
            "precision": self.precision,
        }


async def rule_precision(
    session: AsyncSession,
    tenant: str,
    rule_ids: Sequence[str] | None = None,
    filters: EventFilter | None = None,
) -> dict[str, RulePrecision]:
    """Precision per rule of the tenant, from the latest feedback label of each event (one grouped query).

    `rule_ids` None: every rule with at least one matching event; a listed rule without any gets zeros.
    `filters`: count only the events `GET /cep/events` would list with them (None: all the tenant's events).
    """
    label = col(EventRow.feedback_label)
    query = (
        select(
            col(EventRow.rule_id),
            func.max(col(EventRow.rule_name)),
            func.count(),
            func.count(label),
            func.sum(_is(label, TRUE_POSITIVE)),
            func.sum(_is(label, FALSE_POSITIVE)),
        )
        .where(matching(tenant, filters or EventFilter(), dialect_of(session)))
        .group_by(col(EventRow.rule_id))
    )
    if rule_ids is not None:
        query = query.where(col(EventRow.rule_id).in_(list(rule_ids)))
    found = {
        rule_id: RulePrecision(rule_id, events, labelled, int(tp or 0), int(fp or 0), str(name or ""))
        for rule_id, name, events, labelled, tp, fp in (await session.execute(query)).all()
    }
    for rule_id in rule_ids or ():
        found.setdefault(rule_id, RulePrecision(rule_id, 0, 0, 0, 0))
    return found


def _is(column: Any, value: str) -> Any:
    return case((column == value, 1), else_=0)
