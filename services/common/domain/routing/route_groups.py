"""A notification policy route's aggregation groups, as Alertmanager's dispatcher forms them.

An alert a route takes joins the group of (tenant, route, the values of the route's `group_by` labels): `...`
groups by every label, an empty one (the root's default) makes one group of the route. The group reuses the
rule-level grouping (services/common/domain/notify/grouping.py) with `whole=True`: each notification carries the
group's alert set (its firing alerts and those resolved since the last one), a new group waits `group_wait`, a
changed group notifies at most every `group_interval`, an unchanged one with alerts firing again
after `repeat_interval`.

A group is stored and timed under a scope that names its route (`policy-root`, `policy-0-1`), never a rule id;
`route_key` is Alertmanager's `Route.Key()` (the matchers of each route from the root, `{}/{team="db"}`), the
first part of the webhook's `groupKey`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from services.common.domain.labels.label_set import LabelSet, label_set_text
from services.common.domain.notify.grouping import GroupPolicy, group_id
from services.common.domain.routing.match import group_labels, match
from services.common.domain.routing.tree import Route

SCOPE_PREFIX = "policy-"
# A policy group's batch job numbers its channels from here, so its results never share an id (transition id +
# action index) with a rule's own actions (a rule has far fewer) or a policy's per-alert jobs.
POLICY_GROUP_INDEX = 10_000


def route_scope(path: Sequence[int]) -> str:
    """The scope a route's groups are kept under (KV-key safe): `policy-root`, `policy-0-1`."""
    return SCOPE_PREFIX + ("-".join(str(index) for index in path) or "root")


def scope_path(scope: str) -> tuple[int, ...] | None:
    """The route path a scope names; None when the scope is a rule's id, not a route's."""
    if not scope.startswith(SCOPE_PREFIX):
        return None
    rest = scope[len(SCOPE_PREFIX) :]
    if rest == "root":
        return ()
    parts = rest.split("-")
    return tuple(int(part) for part in parts) if all(part.isdigit() for part in parts) else None


def route_at(root: Route, path: Sequence[int]) -> Route | None:
    """The route at `path` (None when the tree has no such route any more)."""
    route = root
    for index in path:
        if index >= len(route.routes):
            return None
        route = route.routes[index]
    return route


def route_key(root: Route, path: Sequence[int]) -> str:
    """Alertmanager's `Route.Key()` of the route at `path`: each route's sorted matchers from the root, joined by
    `/` (routing/route_key.py)."""
    route = route_at(root, path)
    if route is None:
        raise IndexError(f"no route at {path}")
    return route.key


def group_policy(route: Route) -> GroupPolicy:
    """The route's timings as a whole-set group policy."""
    return GroupPolicy(
        by=route.group_by,
        wait=route.group_wait.total_seconds(),
        interval=route.group_interval.total_seconds(),
        repeat=route.repeat_interval.total_seconds(),
        whole=True,
    )


def alert_group(route: Route, labels: LabelSet) -> dict[str, str]:
    """The labels naming the alert's group on this route (the route tester's own `group_labels`)."""
    return group_labels(route, labels)


@dataclass(frozen=True)
class GroupRef:
    """Where an alert's group on a route is kept: the route's scope, the group's id and its labels' text."""

    scope: str
    group: str
    labels: str
    group_labels: dict[str, str]


def group_ref(route: Route, labels: LabelSet) -> GroupRef:
    """The alert's group on `route` (quoted values name the id: two label sets never share one)."""
    found = alert_group(route, labels)
    return GroupRef(route_scope(route.path), group_id(label_set_text(found)), group_text(found), found)


def groups_of(root: Route, labels: LabelSet) -> list[GroupRef]:
    """Every group the policy puts an alert of these labels in now (one per matched route): where an ACK must
    take it out of the repeats."""
    return [group_ref(route, labels) for route in match(root, labels)]


def label_set_before(first: Mapping[str, str], second: Mapping[str, str]) -> int:
    """Alertmanager's order of alert groups (`LabelSet.Before`), as a `cmp_to_key` comparison: fewer labels
    first; then, over the two sets' names sorted, the first name only one set has puts that set first, the
    first differing value puts the smaller first."""
    if len(first) != len(second):
        return -1 if len(first) < len(second) else 1
    for name in sorted({*first, *second}):
        if name not in first:
            return -1
        if name not in second:
            return 1
        if first[name] != second[name]:
            return -1 if first[name] < second[name] else 1
    return 0


def group_text(labels: Mapping[str, str]) -> str:
    """The group's labels as the rule-level groups write them: `alertname=x,host=a` (names sorted)."""
    return ",".join(f"{name}={labels[name]}" for name in sorted(labels))
