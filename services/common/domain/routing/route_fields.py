"""Checking a `route:` tree field by field, so each error names the route and the field (`route.routes.0.group_wait`).

`build_tree` stops at the first problem and says what it is, not where. Here each field of each route is given
to `build_tree` alone (as the root's field, or as a child's), so the message is the domain's and the place is
exact. Receivers and time intervals a route names must be defined; depth and route count are bounded.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

from services.common.domain.routing.tree import build_tree
from services.common.domain.rules.errors import FieldError

if TYPE_CHECKING:
    from services.common.domain.routing.policy_document import PolicyLimits

Loc = tuple[str | int, ...]
_LISTS = ("group_by", "matchers", "mute_time_intervals", "active_time_intervals")
_MAPS = ("match", "match_re")
_TIMINGS = ("group_wait", "group_interval", "repeat_interval")
ROUTE_KEYS = ("receiver", "continue", "routes", *_LISTS, *_MAPS, *_TIMINGS)
_PROBE_NAME = "probe"


def check_route(
    raw: Mapping[str, Any],
    loc: Loc,
    receivers: Collection[str],
    intervals: Collection[str],
    limits: PolicyLimits,
    errors: list[FieldError],
) -> None:
    """Add an error per bad field of the tree rooted at `raw` (found at `loc`) to `errors`."""
    walk = _Walk(receivers, intervals, limits, errors)
    walk.route(raw, loc, 0)


class _Walk:
    def __init__(
        self, receivers: Collection[str], intervals: Collection[str], limits: PolicyLimits, errors: list[FieldError]
    ) -> None:
        self.receivers, self.intervals, self.limits, self.errors = receivers, intervals, limits, errors
        self.count = 0

    def fail(self, loc: Loc, msg: str) -> None:
        self.errors.append(FieldError(loc, msg))

    def route(self, raw: Any, loc: Loc, depth: int) -> None:
        self.count += 1
        if self.count == self.limits.max_routes + 1:
            self.fail(("route",), f"more than {self.limits.max_routes} routes (CEP_POLICY_MAX_ROUTES)")
        if self.count > self.limits.max_routes:
            return
        if not isinstance(raw, Mapping):
            self.fail(loc, "a route is an object (receiver, matchers, routes, ...)")
            return
        for key in raw:
            if key not in ROUTE_KEYS:
                self.fail((*loc, key), f"unknown field; a route has {', '.join(ROUTE_KEYS)}")
        if self._shapes(raw, loc):
            self._fields(raw, loc, root=depth == 0)
        self._children(raw.get("routes"), loc, depth)

    def _shapes(self, raw: Mapping[str, Any], loc: Loc) -> bool:
        """Whether every field has its JSON type (the domain reads them as Alertmanager's YAML would)."""
        before = len(self.errors)
        receiver = raw.get("receiver")
        if receiver is not None and (not isinstance(receiver, str) or not receiver):
            self.fail((*loc, "receiver"), "a receiver's name")
        if "continue" in raw and not isinstance(raw["continue"], bool):
            self.fail((*loc, "continue"), "true or false")
        for key in _LISTS:
            value = raw.get(key)
            if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
                self.fail((*loc, key), "a list of strings")
        for key in _MAPS:
            value = raw.get(key)
            strings = isinstance(value, Mapping) and all(isinstance(v, str) for v in value.values())
            if value is not None and not strings:
                self.fail((*loc, key), "an object of label names to strings")
        for key in _TIMINGS:
            if raw.get(key) is not None and not isinstance(raw[key], str):
                self.fail((*loc, key), "a duration such as 30s, 5m or 4h")
        return len(self.errors) == before

    def _fields(self, raw: Mapping[str, Any], loc: Loc, root: bool) -> None:
        receiver = raw.get("receiver")
        if receiver and receiver not in self.receivers:
            self.fail((*loc, "receiver"), f"undefined receiver {receiver!r}: add it to receivers")
        elif root and not receiver:
            self._probe({}, (*loc, "receiver"), root)
        for key in ("group_by", "continue", *_TIMINGS):
            if key in raw:
                self._probe({key: raw[key]}, (*loc, key), root)
        for index, line in enumerate(raw.get("matchers") or ()):
            self._probe({"matchers": [line]}, (*loc, "matchers", index), root)
        for key in _MAPS:
            for name, value in (raw.get(key) or {}).items():
                self._probe({key: {name: value}}, (*loc, key, name), root)
        for key in ("mute_time_intervals", "active_time_intervals"):
            names = raw.get(key) or []
            if root and names:
                self._probe({key: names}, (*loc, key), root)
                continue
            for index, name in enumerate(names):
                if name not in self.intervals:
                    self.fail((*loc, key, index), f"undefined time interval {name!r}: add it to time_intervals")

    def _probe(self, fields: Mapping[str, Any], loc: Loc, root: bool) -> None:
        """Give one field to the domain's tree builder, as the root's or as a child's; its refusal names `loc`."""
        probe = {"receiver": _PROBE_NAME, **fields} if root else {"receiver": _PROBE_NAME, "routes": [fields]}
        if root and "receiver" not in fields and not fields:
            probe = {}
        try:
            build_tree(probe)
        except ValueError as exc:
            self.fail(loc, str(exc))

    def _children(self, routes: Any, loc: Loc, depth: int) -> None:
        if routes is None:
            return
        if not isinstance(routes, list):
            self.fail((*loc, "routes"), "a list of routes")
            return
        if routes and depth + 1 > self.limits.max_depth:
            self.fail((*loc, "routes"), f"routes nest more than {self.limits.max_depth} levels (CEP_POLICY_MAX_DEPTH)")
            return
        for index, child in enumerate(routes):
            self.route(child, (*loc, "routes", index), depth + 1)
