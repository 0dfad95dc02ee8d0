"""Open events with chosen labels, recorded as the recorder records them, straight into a test gateway's database."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient

from services.common.messages.alerts import Action
from services.gateway.recorders.event_record import open_event
from services.gateway.state import state_of
from tests.gateway.live_gateway import Episode


def add_labelled_event(
    client: TestClient,
    tenant: str,
    labels: dict[str, str],
    *,
    rule_id: str = "rule-1",
    payload: dict[str, Any] | None = None,
    actions: list[Action] | None = None,
    fired_at: datetime | None = None,
) -> str:
    """Record an open event of `rule_id` whose labels are exactly `labels` (its group key is their text)."""
    key = ",".join(f"{name}={labels[name]}" for name in sorted(labels))
    episode = Episode(tenant, rule_id=rule_id, group_key=key, started_at=fired_at or datetime.now(UTC))
    transition = dataclasses.replace(episode.transition("fired", payload=payload), labels=labels)
    row = open_event(transition, actions or [])

    async def insert() -> None:
        async with state_of(client.app).db.write() as session:  # type: ignore[arg-type]
            session.add(row)

    client.portal.call(insert)  # type: ignore[union-attr]
    return row.event_id
