"""The grouping stage: a notification of a rule that groups (`suppression.group_by` or `group_wait`) joins its
group instead of going out now (services/common/domain/notify/grouping.py: `join`).

A group's first member sets its flush timer (a GroupJob held in the delivery stream until due; groups.py takes
the batch when it fires). Group states live in the noise bucket (groups.py: GroupStore), saved by
compare-and-set: on a conflict, this batch's members join the group as it is now, and a flush timer that then
becomes due is published at once.

The deliveries of a tenant's notification policy join their route's groups the same way (`join_routes`): a group
per (tenant, route, the route's `group_by` labels), kept under the route's scope (`policy-0-1`) with the route's
timings, each member recording the route's channels it goes to (services/common/domain/routing/route_groups.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from services.common.domain.notify.grouping import GroupPolicy, GroupState, group_id, join
from services.common.domain.routing.route_groups import group_policy, group_ref
from services.common.domain.routing.tree import Route
from services.common.messages.alerts import Action
from services.common.messages.delivery import GroupJob
from services.notifier.compare_and_set import save_with_retries
from services.notifier.stages.base import Clock, Grouped, Notification, Passed, Publish, Verdict
from services.notifier.timed_jobs.groups import GroupStore


@dataclass
class HeldGroup:
    """One group in a batch: its state as read (with its revision), and the transitions that joined it."""

    tenant: str
    rule_id: str
    group: str
    policy: GroupPolicy
    state: GroupState
    revision: int | None
    joined: list[dict[str, Any]] = field(default_factory=list)
    group_labels: dict[str, str] | None = None  # a policy route's group: the labels naming it


class Grouping:
    """Reads each group's state once per batch and adds the batch's members to it."""

    name = "grouping"

    def __init__(self, store: GroupStore) -> None:
        self.store = store
        self.groups: dict[tuple[str, str, str], HeldGroup] = {}

    async def decide(self, notification: Notification, now: float) -> Verdict:
        policy = GroupPolicy.of(notification.suppression)
        if policy is None:
            return Passed("the rule does not group its notifications")
        transition = notification.transition
        labels = policy.labels(transition.payload)
        held = await self._held(transition.tenant, transition.rule_id, labels, group_id(labels), policy)
        member = transition.as_dict()
        held.joined.append(member)
        due = join(held.state, member, now, policy)
        timers = () if due is None else (flush_timer(held, labels, due),)
        return Grouped(self.name, f"sent with group {labels or '(all)'}", timers)

    async def join_routes(self, notification: Notification, routes: Mapping[str, Route], now: float) -> Grouped:
        """A policy notification joins the group of each route its jobs go by (`via`), for that route's channels."""
        transition, timers, names = notification.transition, [], []
        for via, route in routes.items():
            channels = [job.action.channel for job in notification.jobs if _via(job.action) == via]
            if not channels:
                continue
            ref = group_ref(route, transition.labels)
            labels = ref.labels
            held = await self._held(transition.tenant, ref.scope, labels, ref.group, group_policy(route))
            held.group_labels = ref.group_labels
            member = {**transition.as_dict(), "policy_channels": channels}
            held.joined.append(member)
            due = join(held.state, member, now, held.policy)
            if due is not None:
                timers.append(flush_timer(held, labels, due))
            names.append(f"{via} {{{labels}}}")
        return Grouped(self.name, f"sent with group {', '.join(names)}", tuple(timers))

    def notified(self, notification: Notification, now: float) -> None:
        return None

    async def save(self, publish: Publish, clock: Clock) -> None:
        for held in self.groups.values():
            await save_with_retries(
                partial(self.store.save, held.tenant, held.rule_id, held.group),
                partial(self._rejoin, held, publish, clock),
                held.state,
                held.revision,
                f"group {held.group} of rule {held.rule_id}",
            )

    async def _held(self, tenant: str, rule_id: str, labels: str, group: str, policy: GroupPolicy) -> HeldGroup:
        key = (tenant, rule_id, group)
        if key not in self.groups:
            state, revision = await self.store.load(tenant, rule_id, group, labels)
            self.groups[key] = HeldGroup(tenant, rule_id, group, policy, state, revision)
        return self.groups[key]

    async def _rejoin(self, held: HeldGroup, publish: Publish, clock: Clock) -> tuple[GroupState, int | None]:
        """The group as it is now, with this batch's members joined to it again (and its flush timer, if due)."""
        state, revision = await self.store.load(held.tenant, held.rule_id, held.group, held.state.labels)
        now = clock()
        due = [join(state, member, now, held.policy) for member in held.joined]
        timers = [flush_timer(held, state.labels, d, state.flushes) for d in due if d is not None]
        if timers:
            await publish(timers)
        return state, revision


def _via(action: Action) -> str | None:
    """The route a policy's action goes by (`policy:0.1`), None for a rule's own action."""
    via = (action.model_extra or {}).get("via")
    return str(via) if via is not None else None


def flush_timer(held: HeldGroup, labels: str, due: float, flushes: int | None = None) -> GroupJob:
    """The group's flush timer, set at flush number `flushes` (by default the state's as read)."""
    number = held.state.flushes if flushes is None else flushes
    return GroupJob(
        "group-timer",
        held.tenant,
        held.rule_id,
        held.group,
        labels,
        due,
        number,
        group_labels=held.group_labels,
    )
