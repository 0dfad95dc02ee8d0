"""Which channels a tenant's notification policy adds to an alert's notification, and which of them are muted now.

The alert's labels go through the routing tree (`routes_for`, the route tester's own search); each matched route's
receiver names channels. A channel the rule's own actions already name is left to them (explicit actions win), and
a channel two routes name (`continue`) is notified once: by the first route that is not muted by its time intervals
at `now`, else recorded as muted by the first route that names it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from services.common.domain.labels.label_set import LabelSet, normalize
from services.common.domain.routing.match import match
from services.common.domain.routing.policy_document import NotificationPolicy, PolicyLimits
from services.common.domain.routing.timing import Intervals, time_muted
from services.common.domain.routing.tree import Route

# The gateway refuses a policy past its CEP_POLICY_MAX_* settings; a reader of the stored documents accepts up to
# the highest values those settings may take, so no document the gateway stored is ever refused downstream.
STORED_POLICY_LIMITS = PolicyLimits(
    max_depth=25,
    max_routes=100_000,
    max_receivers=10_000,
    max_channels=1_000,
    max_time_intervals=10_000,
    max_bytes=16 << 20,
)


@dataclass(frozen=True)
class PolicyTarget:
    """A channel the policy routes the alert to: `via` names the route (`policy:0.1`, `policy:root`), `receiver`
    its receiver, and `muted` why the route's time intervals hold it back now (None: send)."""

    channel: str
    via: str
    receiver: str
    muted: str | None = None
    path: tuple[int, ...] = field(default=(), compare=False)  # the route `via` names, as its position in the tree


def route_name(path: Sequence[int]) -> str:
    """A route's position as `via` names it: child indexes joined by dots, `root` for the root."""
    return ".".join(str(index) for index in path) or "root"


def mute_reason(route: Route, intervals: Intervals, now: datetime) -> str | None:
    """Why the route's time intervals hold its notifications back at `now` (None: send). Judged when an alert
    joins the route's group and again when the group sends (a flush), as Alertmanager judges it at flush."""
    muted = time_muted(route, intervals, now)
    if muted is None:
        return None
    named = f" {muted.interval!r}" if muted.interval else ""
    return f"muted by the notification policy: route {route_name(route.path)} is {muted.reason}{named}"


def policy_targets(
    policy: NotificationPolicy, labels: LabelSet, now: datetime, explicit: Collection[str] = ()
) -> list[PolicyTarget]:
    """The channels the policy adds for these labels at `now`, in tree order, without the `explicit` ones."""
    chosen: dict[str, PolicyTarget] = {}
    for route in match(policy.config.route, normalize(labels)):
        reason = mute_reason(route, policy.config.time_intervals, now)
        for channel in policy.channels.get(route.receiver, ()):
            if channel in explicit:
                continue
            held = chosen.get(channel)
            if held is None or (held.muted is not None and reason is None):
                chosen[channel] = PolicyTarget(
                    channel, f"policy:{route_name(route.path)}", route.receiver, reason, route.path
                )
    return list(chosen.values())
