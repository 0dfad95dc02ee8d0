"""The shard's poison book: work items it could not apply and alerts it could not publish, each logged,
counted, kept among the recent ones its status shows, and reported as a dead letter (dead_letters.py)."""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

from nats.js.client import JetStreamContext

from services.common.domain.lifecycle.transitions import Transition
from services.evaluator.dead_letters import report_dropped, report_poison
from services.evaluator.metrics import ShardCounters
from services.evaluator.work import ItemId, TriggerWork, Work, item_id

log = logging.getLogger(__name__)

RECENT = 20  # poison entries kept for the status


class PoisonBook:
    """What went wrong on one shard: `recent` (newest last) for the status, `counters.poison` for the metrics."""

    def __init__(self, shard: int, counters: ShardCounters) -> None:
        self.shard = shard
        self.counters = counters
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT)

    def dropped(self, js: JetStreamContext | None, seq: int, transition: Transition, error: Exception) -> None:
        """An alert that could not be published (too large for the server, say), while at work sequence `seq`."""
        context = {
            "tenant": transition.tenant,
            "rule_id": transition.rule_id,
            "transition_id": transition.transition_id,
        }
        log.error("alert not publishable, dropped: %s", error, extra={"shard": self.shard, **context})
        self.recent.append({"seq": seq, "error": f"alert dropped: {error}", **context})
        self.counters.poison += 1
        report_dropped(js, self.shard, seq, transition, error)

    def record(self, js: JetStreamContext | None, items: list[Work], poison: dict[ItemId, str]) -> None:
        """Count and log each poison item: the work sequence and index of the item, the error, its context."""
        if not poison:
            return
        by_id = {item_id(item): item for item in items}
        for (seq, index), error in sorted(poison.items()):
            context = _context(by_id.get((seq, index)))
            log.error(
                "poison work item %d at sequence %d: %s", index, seq, error, extra={"shard": self.shard, **context}
            )
            self.recent.append({"seq": seq, "index": index, "error": error, **context})
            self.counters.poison += 1
            report_poison(js, self.shard, seq, index, error, by_id.get((seq, index)))


def _context(item: Work | None) -> dict[str, Any]:
    """Log context of a work item: tenant, event and rule ids where it has them."""
    if item is None:
        return {}
    event = getattr(item, "event", None)
    context: dict[str, Any] = {}
    if event is not None:
        context = {"tenant": event.tenant, "event_id": event.event_id}
    if isinstance(item, TriggerWork):
        context["rule_id"] = item.rule_id
    change = getattr(item, "change", None)
    if change is not None:
        context = {"tenant": change.tenant, "rule_id": change.rule_id}
    return context
