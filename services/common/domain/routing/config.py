"""A notification-policy configuration as a whole, in Alertmanager's shape, checked as Alertmanager checks it.

The `route:` tree, the receivers' names, the named `time_intervals` (and the older `mute_time_intervals`) and
the `inhibit_rules` are parsed together, so a route naming an undefined receiver or time interval, or a name
defined twice, is refused with the reason Alertmanager gives. The result holds frozen models only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from services.common.domain.inhibition.inhibit_rules import InhibitRule, parse_inhibit_rule
from services.common.domain.routing.timing import check_interval_names
from services.common.domain.routing.tree import Route, RouteError, build_tree, check_receivers
from services.common.domain.time_intervals.model import TimeInterval, parse_time_interval


class PolicyConfig(BaseModel):
    """The routing tree, the receivers' names, the named time intervals and the inhibit rules."""

    model_config = ConfigDict(frozen=True)

    route: Route
    receivers: tuple[str, ...]
    time_intervals: dict[str, tuple[TimeInterval, ...]]
    inhibit_rules: tuple[InhibitRule, ...]


def load_config(raw: Mapping[str, Any]) -> PolicyConfig:
    """The configuration from its mapping form; a ValueError (RouteError, TimeIntervalError, ...) naming the
    first problem when Alertmanager would refuse it."""
    if not raw.get("route"):
        raise RouteError("no route provided in config")
    receivers = _unique([str(entry.get("name", "")) for entry in raw.get("receivers") or ()], "receiver")
    named = [*(raw.get("mute_time_intervals") or ()), *(raw.get("time_intervals") or ())]
    _unique([str(entry.get("name", "")) for entry in named], "time interval")
    intervals = {
        str(entry["name"]): tuple(parse_time_interval(item) for item in entry.get("time_intervals") or ())
        for entry in named
    }
    route = build_tree(raw["route"])
    check_receivers(route, receivers)
    check_interval_names(route, intervals)
    rules = tuple(parse_inhibit_rule(rule) for rule in raw.get("inhibit_rules") or ())
    return PolicyConfig(route=route, receivers=receivers, time_intervals=intervals, inhibit_rules=rules)


def _unique(names: list[str], kind: str) -> tuple[str, ...]:
    seen: set[str] = set()
    for name in names:
        if not name:
            raise RouteError(f"missing name in {kind} config")
        if name in seen:
            raise RouteError(f"{kind} {name!r} is not unique")
        seen.add(name)
    return tuple(names)
