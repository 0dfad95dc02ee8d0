"""The routing tree, built from Alertmanager's `route:` configuration with its inheritance rules.

Each route inherits its parent's receiver, `group_by` and timings unless it sets them (an empty `group_by: []` sets
nothing: Alertmanager's config reads it as unset, so the route groups as its parent does); the root starts from
Alertmanager's defaults (group_wait 30s, group_interval 5m, repeat_interval 4h, no grouping). `group_by: ['...']`
groups by every label. `mute_time_intervals` and `active_time_intervals` are not inherited: each route names its
own. A route's matchers are `matchers` (matcher syntax), plus the older `match` (equality) and `match_re` (regex)
maps. The root must name a receiver and has no matchers and no time intervals.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.common.domain.labels.label_set import is_valid_name
from services.common.domain.labels.matchers import Matcher
from services.common.domain.labels.parse import config_matchers
from services.common.domain.routing.prometheus_durations import parse_duration
from services.common.domain.routing.route_key import key_part

DEFAULT_GROUP_WAIT = timedelta(seconds=30)
DEFAULT_GROUP_INTERVAL = timedelta(minutes=5)
DEFAULT_REPEAT_INTERVAL = timedelta(hours=4)
GROUP_BY_ALL = "..."
_TIMINGS = ("group_wait", "group_interval", "repeat_interval")


class RouteError(ValueError):
    """A routing configuration Alertmanager would refuse; the message names the problem."""


class Route(BaseModel):
    """A route with its inherited options resolved; `path` is its position (child indexes from the root)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    path: tuple[int, ...] = ()
    receiver: str
    matchers: tuple[Matcher, ...] = ()
    continue_: bool = Field(default=False, alias="continue")
    group_by: tuple[str, ...] = ()
    group_by_all: bool = False
    group_wait: timedelta = DEFAULT_GROUP_WAIT
    group_interval: timedelta = DEFAULT_GROUP_INTERVAL
    repeat_interval: timedelta = DEFAULT_REPEAT_INTERVAL
    mute_time_intervals: tuple[str, ...] = ()
    active_time_intervals: tuple[str, ...] = ()
    routes: tuple[Route, ...] = ()
    key: str = "{}"  # Alertmanager's Route.Key() (routing/route_key.py), the first part of its groups' keys


def build_tree(raw: Mapping[str, Any]) -> Route:
    """The resolved routing tree from a `route:` mapping; RouteError when Alertmanager would refuse it."""
    if not raw.get("receiver"):
        raise RouteError("root route must specify a default receiver")
    if raw.get("matchers") or raw.get("match") or raw.get("match_re"):
        raise RouteError("root route must not have any matchers")
    if raw.get("mute_time_intervals") or raw.get("active_time_intervals"):
        raise RouteError("root route must not have any mute or active time intervals")
    if raw.get("continue"):
        raise RouteError("cannot have continue in root route")
    return _build(raw, None, ())


def _build(raw: Mapping[str, Any], parent: Route | None, path: tuple[int, ...]) -> Route:
    fields: dict[str, Any] = {}
    if parent is not None:
        fields = {name: getattr(parent, name) for name in ("receiver", "group_by", "group_by_all", *_TIMINGS)}
    if raw.get("receiver"):
        fields["receiver"] = str(raw["receiver"])
    if raw.get("group_by"):  # `group_by: []` inherits, as in Alertmanager (its config leaves GroupBy nil)
        fields.update(_group_by(raw["group_by"]))
    for name in _TIMINGS:
        if raw.get(name) is not None:
            fields[name] = _duration(name, raw[name])
    node = Route(
        path=path,
        matchers=config_matchers(raw),
        continue_=bool(raw.get("continue", False)),
        mute_time_intervals=tuple(raw.get("mute_time_intervals") or ()),
        active_time_intervals=tuple(raw.get("active_time_intervals") or ()),
        key=key_part(raw) if parent is None else f"{parent.key}/{key_part(raw)}",
        **fields,
    )
    children = tuple(_build(child, node, (*path, index)) for index, child in enumerate(raw.get("routes") or ()))
    return node.model_copy(update={"routes": children})


def _group_by(names: Any) -> dict[str, Any]:
    listed = [str(name) for name in names if str(name) != GROUP_BY_ALL]
    wildcard = len(listed) < len(names)
    for name in listed:
        if not is_valid_name(name):
            raise RouteError(f"invalid label name {name!r} in group_by list")
    if listed and wildcard:
        raise RouteError("cannot have wildcard group_by (`...`) and other labels at the same time")
    if len(set(listed)) != len(listed):
        raise RouteError(f"duplicated label in group_by: {listed}")
    return {"group_by": tuple(listed), "group_by_all": wildcard}


def check_receivers(root: Route, receivers: Collection[str]) -> None:
    """Raise RouteError when a route names a receiver the configuration does not define."""
    if root.receiver not in receivers:
        raise RouteError(f"undefined receiver {root.receiver!r} used in route")
    for child in root.routes:
        check_receivers(child, receivers)


def _duration(name: str, text: Any) -> timedelta:
    try:
        value = parse_duration(str(text))
    except ValueError as exc:
        raise RouteError(f"{name}: {exc}") from None
    if name == "group_interval" and value == timedelta(0):
        raise RouteError("group_interval cannot be zero")
    if name == "repeat_interval" and value == timedelta(0):
        raise RouteError("repeat_interval cannot be zero")
    return value
