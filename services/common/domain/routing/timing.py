"""Whether a route's notifications are held back at an instant by its mute or active time intervals.

A route is muted while the instant is inside any interval its `mute_time_intervals` names, and, when it names
`active_time_intervals`, while the instant is inside none of them (Alertmanager's time-mute and time-active
stages). The verdict names the interval, so a suppressed notification can say why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from services.common.domain.routing.tree import Route, RouteError
from services.common.domain.time_intervals.contains import contains_any
from services.common.domain.time_intervals.model import TimeInterval

Intervals = Mapping[str, Sequence[TimeInterval]]


class TimeMuted(BaseModel):
    """Why a route is muted now: inside the mute interval `interval`, or outside all its active intervals."""

    model_config = ConfigDict(frozen=True)

    reason: str
    interval: str | None = None


def time_muted(route: Route, intervals: Intervals, now: datetime) -> TimeMuted | None:
    """The reason the route is muted at `now`, or None when it may notify."""
    for name in route.mute_time_intervals:
        if contains_any(intervals[name], now):
            return TimeMuted(reason="inside a mute time interval", interval=name)
    active = route.active_time_intervals
    if active and not any(contains_any(intervals[name], now) for name in active):
        return TimeMuted(reason="outside every active time interval")
    return None


def check_interval_names(root: Route, intervals: Intervals) -> None:
    """Raise RouteError when a route names a time interval the configuration does not define."""
    for name in (*root.mute_time_intervals, *root.active_time_intervals):
        if name not in intervals:
            raise RouteError(f"undefined time interval {name!r} used in route")
    for child in root.routes:
        check_interval_names(child, intervals)
