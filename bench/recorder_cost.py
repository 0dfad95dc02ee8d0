"""The recorder's SQL cost per alert: `fired` transitions recorded and marked fed, in batches of 1 and of 100.

Runs the gateway's own store functions (`record_alerts`, `mark_fed`) on a fresh SQLite database, one write
transaction for the record and one for the mark per batch, as the recorder does. Prints ms per alert.
Usage: `python bench/recorder_cost.py [--alerts N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.common.db.migrate import upgrade
from services.common.db.sql_engine import open_database
from services.common.domain.lifecycle.transitions import Transition, episode_id, transition_id
from services.common.messages.alerts import Action
from services.gateway.store import events as store
from services.gateway.store.events import Alert

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
HOOK = [Action(type="webhook", channel="ops-hook", message="cpu {{ payload.cpu }}")]


def fired(index: int) -> Alert:
    """A `fired` transition of its own episode (host `h<index>`)."""
    started = T0 + timedelta(seconds=index)
    group = f"host=h{index}"
    event = episode_id("bench", "rule-1", 1, group, started)
    transition = Transition(
        transition_id=transition_id("bench", "rule-1", 1, group, started, "fired"),
        event_id=event,
        tenant="bench",
        rule_id="rule-1",
        rule_name="cpu high",
        rule_version=1,
        kind="fired",
        at=started,
        started_at=started,
        last_seen=started,
        group_key=group,
        fingerprint=f"fp-{index}",
        severity="high",
        priority="P2",
        trigger_type="metric",
        count=1,
        summary="cpu_usage > 85",
        payload={"host": f"h{index}", "cpu": 97.0},
        explanation=[],
        value=97.0,
        source_event_id=None,
        notify=True,
        reason="threshold",
    )
    return Alert(transition, HOOK)


async def per_alert_ms(folder: Path, alerts: int, batch: int) -> float:
    """Milliseconds per alert to record `alerts` alerts in batches of `batch` (record + mark fed per batch)."""
    url = f"sqlite:///{folder / f'cost-{batch}.db'}"
    upgrade(url)
    db = open_database(url)
    items = [fired(index) for index in range(alerts)]
    began = time.perf_counter()
    for start in range(0, alerts, batch):
        async with db.write() as session:
            fed = await store.record_alerts(session, items[start : start + batch], datetime.now(UTC))
        async with db.write() as session:
            await store.mark_fed(session, [item.transition_id for item in fed])
    elapsed = time.perf_counter() - began
    await db.dispose()
    return 1000 * elapsed / alerts


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alerts", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for batch in (1, 10, 100):
            cost = await per_alert_ms(Path(folder), args.alerts, batch)
            print(f"batch {batch:>4}: {cost:.3f} ms per alert")


if __name__ == "__main__":
    asyncio.run(main())
