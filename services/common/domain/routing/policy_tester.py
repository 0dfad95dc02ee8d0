"""The route tester over a tenant's policy: a label set in, the receivers, their channels and timings out.

It is `routes_for` (amtool's `config routes test`) plus what a policy adds: each receiver's channels, and
whether each route is muted at an instant by its mute or active time intervals (`time_muted`).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from services.common.domain.labels.label_set import LabelSet, is_valid_name, normalize
from services.common.domain.routing.match import RoutePlan, match, routes_for
from services.common.domain.routing.policy_document import NotificationPolicy
from services.common.domain.routing.timing import time_muted
from services.common.domain.rules.errors import FieldError


class PolicyRoute(BaseModel):
    """One matched route: its plan, the receiver's channels, and whether its time intervals mute it at `at`."""

    model_config = ConfigDict(frozen=True)

    plan: RoutePlan
    channels: tuple[str, ...]
    muted_at: bool
    muted_reason: str | None


class PolicyTest(BaseModel):
    """The tester's answer: the receivers in tree order, amtool's line, and each route."""

    model_config = ConfigDict(frozen=True)

    receivers: tuple[str, ...]
    line: str
    routes: tuple[PolicyRoute, ...]


def label_errors(labels: LabelSet) -> list[FieldError]:
    """The label names that are not valid label names, each named as `labels.<name>`."""
    return [
        FieldError(("labels", name), "not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*)")
        for name in labels
        if not is_valid_name(name)
    ]


def route_labels(policy: NotificationPolicy, labels: LabelSet, at: datetime) -> PolicyTest:
    """Where a label set goes under the policy at the instant `at` (empty values count as absent labels)."""
    present = normalize(labels)
    root = policy.config.route
    found = routes_for(root, present)
    routes = []
    for plan, route in zip(found.routes, match(root, present), strict=True):
        muted = time_muted(route, policy.config.time_intervals, at)
        reason = None if muted is None else f"{muted.reason}" + (f" ({muted.interval})" if muted.interval else "")
        channels = policy.channels.get(plan.receiver, ())
        routes.append(PolicyRoute(plan=plan, channels=channels, muted_at=muted is not None, muted_reason=reason))
    return PolicyTest(receivers=found.receivers, line=found.line, routes=tuple(routes))
