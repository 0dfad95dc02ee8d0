"""Which series a rule needs: the lifecycle of its trigger type, new or restored from a snapshot.

Metric and anomaly rules follow the threshold lifecycle (`thresholds.py`), event rules `event_series.py`,
schedule rules `schedule_series.py` and pattern rules `pattern_series.py`. Every series follows the `Series`
protocol of `episodes.py`.
"""

from __future__ import annotations

from typing import Any

from services.common.domain.lifecycle.episodes import CompiledRule, Series
from services.common.domain.lifecycle.event_series import EventSeries
from services.common.domain.lifecycle.pattern_series import SNAPSHOT_TYPE as PATTERN_SNAPSHOT
from services.common.domain.lifecycle.pattern_series import PatternSeries
from services.common.domain.lifecycle.schedule_series import ScheduleSeries
from services.common.domain.lifecycle.thresholds import ThresholdSeries


def new_series(plan: CompiledRule) -> Series:
    """A fresh series of the lifecycle the rule's trigger type needs."""
    if plan.rule.trigger_type == "event":
        return EventSeries()
    if plan.rule.trigger_type == "schedule":
        return ScheduleSeries()
    if plan.rule.trigger_type == "pattern":
        return PatternSeries(plan)
    return ThresholdSeries(plan)


def restore_series(plan: CompiledRule, data: dict[str, Any]) -> Series:
    """Rebuild a series from its `snapshot()`."""
    kind = data["type"]
    if kind == "event":
        return EventSeries.restore(data)
    if kind == "schedule":
        return ScheduleSeries()
    if kind == PATTERN_SNAPSHOT:
        return PatternSeries.restore(plan, data)
    return ThresholdSeries.restore(plan, data)
