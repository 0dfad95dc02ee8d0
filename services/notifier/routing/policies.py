"""The notifier's copy of `cep-notification-policies`, and the delivery jobs a tenant's policy adds to an alert.

The mirror is loaded from the bucket at start (the notifier is not ready before, so a restarted notifier routes
the same way) and kept current by a watch. For a transition to be notified, `PolicyRouting.jobs` routes its labels
through the tenant's policy (`policy_targets`) and makes one job per channel the rule's own actions do not already
name, by name or id: an action `{"type": "notify", "channel": ..., "via": "policy:<route>"}` with the default
message. Its index follows the rule's actions (len(actions) + its place among the policy's channels), so its
message id is stable for the same rule version and policy. A tenant without a policy gets no job from here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from services.common.domain.lifecycle.transitions import Transition
from services.common.domain.notify.grouping import GroupPolicy
from services.common.domain.routing.policy_delivery import mute_reason, policy_targets, route_name
from services.common.domain.routing.route_groups import group_policy, route_at, route_key, scope_path
from services.common.domain.routing.timing import Intervals
from services.common.domain.routing.tree import Route
from services.common.messages.alerts import Action, channel_actions
from services.common.messages.codec import MessageError
from services.common.messages.delivery import DeliveryJob
from services.common.messages.policies import PolicyEntry, decode_policy
from services.common.nats import subjects
from services.common.nats.kv_mirror import SKIP, BucketMirror, Skip
from services.notifier.delivery.directory import Directory

log = logging.getLogger(__name__)


class PolicyMirror(BucketMirror[PolicyEntry]):
    """`cep-notification-policies`: each tenant's policy (a tenant without one has no entry)."""

    bucket = subjects.NOTIFICATION_POLICIES_BUCKET
    what = "notification policy"

    def parse(self, key: str, value: bytes) -> PolicyEntry | Skip | None:
        try:
            entry = decode_policy(value)
        except MessageError as exc:  # the policy held so far stays: a bad entry never stops a tenant's routing
            log.warning("notification policy %s cannot be read (%s); skipped", key, exc.reason)
            return SKIP
        if entry.tenant != key:  # tenants never mix: an entry routes only the tenant its key names
            log.warning("notification policy %s names tenant %s; skipped", key, entry.tenant)
            return SKIP
        return entry

    def of_tenant(self, tenant: str) -> PolicyEntry | None:
        """The tenant's policy, None when it has none."""
        return self.items.get((tenant, ""))

    def route_group(self, tenant: str, scope: str) -> RouteGroup | None:
        """What a policy route's group (by its scope, `policy-0-1`) sends now: None when `scope` is not a route's;
        no channels when the tenant's policy no longer has that route."""
        path = scope_path(scope)
        if path is None:
            return None
        entry = self.of_tenant(tenant)
        root = entry.policy.config.route if entry is not None else None
        route = route_at(root, path) if root is not None else None
        if entry is None or root is None or route is None:
            return RouteGroup(GroupPolicy((), whole=True), [], "")
        via = f"policy:{route_name(path)}"
        actions = [
            Action.model_validate({"type": "notify", "channel": channel, "via": via})
            for channel in entry.policy.channels.get(route.receiver, ())
        ]
        return RouteGroup(
            group_policy(route), actions, route_key(root, path), route, entry.policy.config.time_intervals
        )


@dataclass(frozen=True)
class RouteGroup:
    """A policy route's group as its timers see it: the route's timings, one action per channel of its receiver,
    Alertmanager's key of the route, and the route with the policy's time intervals (judged when it sends)."""

    policy: GroupPolicy
    actions: list[Action]
    route_key: str
    route: Route | None = None
    intervals: Intervals = field(default_factory=dict)

    def muted(self, now: float) -> str | None:
        """Why the route's time intervals hold the group's notification back at `now` (None: send)."""
        if self.route is None:
            return None
        return mute_reason(self.route, self.intervals, datetime.fromtimestamp(now, UTC))


@dataclass
class Routed:
    """The policy's jobs for one transition: those to send (after muting), and those its time intervals hold back,
    each with the reason."""

    jobs: list[DeliveryJob] = field(default_factory=list)
    muted: list[tuple[DeliveryJob, str]] = field(default_factory=list)
    routes: dict[str, Route] = field(default_factory=dict)  # the route each job's `via` names (its grouping)


class PolicyRouting:
    """Adds the jobs of the tenants' policies; channel references are resolved once per batch."""

    def __init__(self, policies: PolicyMirror, directory: Directory) -> None:
        self.policies = policies
        self.directory = directory
        self.resolved: dict[tuple[str, str], str] = {}

    def batch(self) -> PolicyRouting:
        """A router for one batch of alerts (its own cache of channel ids)."""
        return PolicyRouting(self.policies, self.directory)

    async def jobs(self, transition: Transition, actions: Sequence[Action], now: float) -> Routed:
        """The policy's jobs for a transition to be notified (none without a policy or a route to a channel)."""
        entry = self.policies.of_tenant(transition.tenant)
        routed = Routed()
        if entry is None or not transition.notify:
            return routed
        refs = {ref for _, _, ref in channel_actions(actions)}
        explicit = refs | {await self._channel_id(transition.tenant, ref) for ref in refs}
        at = datetime.fromtimestamp(now, UTC)
        for position, target in enumerate(policy_targets(entry.policy, transition.labels, at, refs)):
            if await self._channel_id(transition.tenant, target.channel) in explicit:
                continue  # the same channel under its other name: the rule's own action sends it
            action = Action.model_validate({"type": "notify", "channel": target.channel, "via": target.via})
            job = DeliveryJob(transition, action, len(actions) + position)
            if target.muted is None:
                routed.jobs.append(job)
                route = route_at(entry.policy.config.route, target.path)
                if route is not None:
                    routed.routes[target.via] = route
            else:
                routed.muted.append((job, target.muted))
        return routed

    async def _channel_id(self, tenant: str, ref: str) -> str:
        """The channel's id when the tenant has a channel of that id or name, else the reference itself."""
        key = (tenant, ref)
        if key not in self.resolved:
            channel = await self.directory.channel(tenant, ref)
            self.resolved[key] = channel.channel_id if channel is not None else ref
        return self.resolved[key]
