"""Matching a label set to its routes and the route tester's answer, as `amtool config routes test` gives it.

The search is depth-first, left to right: a route whose matchers accept the label set tries its children in
order; a matching child without `continue` stops the search among its siblings; a route none of whose children
match is itself the match. The tester lists, in that order, each matched route's receiver, grouping (the group's
labels for this label set) and timings.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict

from services.common.domain.labels.label_set import LabelSet
from services.common.domain.labels.matchers import matches_all
from services.common.domain.routing.prometheus_durations import format_duration
from services.common.domain.routing.tree import GROUP_BY_ALL, Route


class RoutePlan(BaseModel):
    """Where one matched route sends a label set: receiver, group labels, timings and time intervals."""

    model_config = ConfigDict(frozen=True)

    path: tuple[int, ...]
    receiver: str
    group_by: tuple[str, ...]
    group_labels: dict[str, str]
    group_wait: str
    group_interval: str
    repeat_interval: str
    mute_time_intervals: tuple[str, ...]
    active_time_intervals: tuple[str, ...]


class RouteTest(BaseModel):
    """The route tester's answer: the receivers in tree order (amtool's output line) and each route's plan."""

    model_config = ConfigDict(frozen=True)

    receivers: tuple[str, ...]
    routes: tuple[RoutePlan, ...]

    @property
    def line(self) -> str:
        """The receivers joined by commas, exactly as `amtool config routes test` prints them."""
        return ",".join(self.receivers)


def match(route: Route, labels: LabelSet) -> list[Route]:
    """The routes a label set takes, in tree order (empty when even the root's matchers refuse it)."""
    if not matches_all(route.matchers, labels):
        return []
    found: list[Route] = []
    for child in route.routes:
        taken = match(child, labels)
        found += taken
        if taken and not child.continue_:
            break
    return found or [route]


def group_labels(route: Route, labels: LabelSet) -> dict[str, str]:
    """The labels that name the alert's group on this route: all of them, or the `group_by` ones it has."""
    if route.group_by_all:
        return dict(labels)
    return {name: labels[name] for name in route.group_by if name in labels}


def routes_for(root: Route, labels: LabelSet) -> RouteTest:
    """The receivers and timings a label set is routed to."""
    plans = tuple(_plan(route, labels) for route in match(root, labels))
    return RouteTest(receivers=tuple(plan.receiver for plan in plans), routes=plans)


def _plan(route: Route, labels: LabelSet) -> RoutePlan:
    return RoutePlan(
        path=route.path,
        receiver=route.receiver,
        group_by=(GROUP_BY_ALL,) if route.group_by_all else route.group_by,
        group_labels=group_labels(route, labels),
        group_wait=_text(route.group_wait),
        group_interval=_text(route.group_interval),
        repeat_interval=_text(route.repeat_interval),
        mute_time_intervals=route.mute_time_intervals,
        active_time_intervals=route.active_time_intervals,
    )


def _text(duration: timedelta) -> str:
    return format_duration(duration)
