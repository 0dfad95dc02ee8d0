"""Partial matches dropped at a pattern rule's cap, gathered per rule and let out at most once a minute each, as
the refused series are (quota_watch.py): the first at once, then one report with the count per period."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from services.common.domain.patterns.drops import PatternDrops
from services.evaluator.quota_watch import REPORT_SECONDS


class DropReports:
    """Drops per rule, waiting for their rule's next report; memory follows the rules that dropped lately."""

    def __init__(self, period: float = REPORT_SECONDS) -> None:
        self.period = period
        self._waiting: dict[str, PatternDrops] = {}
        self._last: dict[str, float] = {}

    def add(self, drops: Sequence[PatternDrops]) -> None:
        for dropped in drops:
            held = self._waiting.get(dropped.rule_id)
            if held is None:
                self._waiting[dropped.rule_id] = dataclasses.replace(dropped)
            else:
                held.count += dropped.count
                held.cap, held.last_key = dropped.cap, dropped.last_key

    def due(self, now: float) -> list[PatternDrops]:
        """The gathered drops whose rule was not reported in the last period; they are let out."""
        out: list[PatternDrops] = []
        for rule_id in sorted(self._waiting):
            last = self._last.get(rule_id)
            if last is None or now - last >= self.period:
                out.append(self._waiting.pop(rule_id))
                self._last[rule_id] = now
        for rule_id in [r for r, at in self._last.items() if now - at >= self.period and r not in self._waiting]:
            del self._last[rule_id]
        return out
