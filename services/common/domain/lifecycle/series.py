"""Which series a rule needs: the lifecycle of its trigger type, new or restored from a snapshot.

Metric and anomaly rules follow the threshold lifecycle (`thresholds.py`), event rules `event_series.py` and
schedule rules `schedule_series.py`. Every series follows the `Series` protocol of `episodes.py`.
"""

from __future__ import annotations

from typing import Any

from services.common.domain.lifecycle.episodes import CompiledRule, Series
from services.common.domain.lifecycle.event_series import EventSeries
from services.common.domain.lifecycle.schedule_series import ScheduleSeries
from services.common.domain.lifecycle.thresholds import ThresholdSeries


def new_series(plan: CompiledRule) -> Series:
    """A fresh series of the lifecycle the rule's trigger type needs."""
    if plan.rule.trigger_type == "event":
        return EventSeries()
    if plan.rule.trigger_type == "schedule":
        return ScheduleSeries()
    return ThresholdSeries(plan)


def restore_series(plan: CompiledRule, data: dict[str, Any]) -> Series:
    """Rebuild a series from its `snapshot()`."""
    kind = data["type"]
    if kind == "event":
        return EventSeries.restore(data)
    if kind == "schedule":
        return ScheduleSeries()
    return ThresholdSeries.restore(plan, data)
