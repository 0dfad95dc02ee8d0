"""The one list of stages every alert notification passes, in order, and a batch of alerts run through it.

A notification goes through the stages until one does not pass it: a `Suppressed` verdict records a `suppressed`
result for each of its jobs, a `Grouped` one leaves it to its group's batch, and past the last stage its jobs go
out. The service publishes the plan and only then saves the stages' state and acks the alerts, so a crash in
between repeats the batch: jobs and results are de-duplicated by their message ids, and at worst a notification
is counted twice in a storm window (never lost).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from services.common.domain.lifecycle.transitions import Transition
from services.common.domain.routing.tree import Route
from services.common.messages.alerts import Action
from services.notifier.delivery.directory import Rules
from services.notifier.delivery.jobs import jobs_for
from services.notifier.routing.policies import PolicyRouting
from services.notifier.stages.base import (
    Clock,
    Notification,
    Passed,
    Plan,
    Publish,
    Stage,
    Suppressed,
    Suppression,
    Verdict,
    suppressed_result,
)
from services.notifier.stages.cooldown import Cooldown, MarkStore
from services.notifier.stages.grouping import Grouping
from services.notifier.stages.muting import Muting, MutingSources
from services.notifier.stages.storm import StormBudget, StormStore
from services.notifier.timed_jobs.groups import GroupStore

POLICY_STAGE = "time_interval"  # the `by` of a notification its policy route's time intervals hold back
Alert = tuple[Transition, list[Action]]  # a transition and its rule's actions, as CEP_ALERTS carries them


class MultiStage:
    """Plans batches of alerts through the stages and saves the stages' state after the plan is published."""

    def __init__(
        self,
        rules: Rules,
        marks: MarkStore,
        storms: StormStore,
        groups: GroupStore,
        muting: MutingSources,
        clock: Clock = time.time,
        routing: PolicyRouting | None = None,
    ) -> None:
        self.rules = rules
        self.marks = marks
        self.storms = storms
        self.groups = groups
        self.muting = muting
        self.clock = clock
        self.routing = routing

    def stages(self) -> list[Stage]:
        """The stages, in the order a notification passes them; new ones for each batch (they hold its state)."""
        # Muting comes first, so a muted notification is neither counted nor cooled nor grouped.
        return [Muting(self.muting), *self.noise_stages()]

    def noise_stages(self) -> list[Stage]:
        """The stages after muting, which a scheduled run skips (every run is its own event)."""
        return [Cooldown(self.marks), StormBudget(self.storms), Grouping(self.groups)]

    async def plan(self, alerts: list[Alert]) -> Plan:
        """What a batch of alerts publishes: jobs, suppressed results and timers (the stages hold its state)."""
        now = self.clock()
        muting = Muting(self.muting)
        plan = Plan([muting, *self.noise_stages()])
        grouping = plan.stages[-1]
        assert isinstance(grouping, Grouping)
        suppressions: dict[tuple[str, str], Mapping[str, Any]] = {}
        routing = self.routing.batch() if self.routing is not None else None
        for transition, actions in alerts:
            muting.track(transition)  # every alert, notified or not, may inhibit others while it is open
            if routing is not None:
                await route_by_policy(plan, routing, transition, actions, now, muting, grouping)
            jobs = jobs_for(transition, actions)
            if not jobs:
                continue
            if transition.trigger_type == "schedule":  # every run is its own event: muted, never counted or grouped
                await run_stages(plan, Notification(transition, jobs, {}), now, [muting])
                continue
            suppression = await self._suppression(suppressions, transition)
            await run_stages(plan, Notification(transition, jobs, suppression), now)
        return plan

    async def save(self, plan: Plan, publish: Publish) -> None:
        """Save each stage's state, the last stage first: a save that keeps conflicting raises (the batch comes
        back), and the stages before it then give the same verdicts again, their state not yet changed."""
        for stage in reversed(plan.stages):
            await stage.save(publish, self.clock)

    async def _suppression(
        self, known: dict[tuple[str, str], Mapping[str, Any]], transition: Transition
    ) -> Mapping[str, Any]:
        """The rule's `suppression` settings, read once per rule and batch."""
        key = (transition.tenant, transition.rule_id)
        if key not in known:
            rule = await self.rules.rule(transition.tenant, transition.rule_id)
            known[key] = (rule or {}).get("suppression") or {}
        return known[key]


async def route_by_policy(
    plan: Plan,
    routing: PolicyRouting,
    transition: Transition,
    actions: list[Action],
    now: float,
    muting: Stage,
    grouping: Grouping,
) -> None:
    """Add the jobs of the tenant's notification policy: held back by their route's time intervals, or through
    muting and into their routes' groups, and out with their group's next notification (the rule's cooldown,
    storm budget and grouping are its own actions')."""
    routed = await routing.jobs(transition, actions, now)
    for job, reason in routed.muted:
        plan.suppressed.append(Suppression(POLICY_STAGE, suppressed_result(job, reason, now)))
    if routed.jobs:
        stages = [muting, RouteGroups(grouping, routed.routes)]
        await run_stages(plan, Notification(transition, routed.jobs, {}), now, stages)


class RouteGroups:
    """The stage a policy notification passes after muting: it joins its routes' groups (Grouping.join_routes);
    the grouping stage it shares holds and saves their state."""

    name = "grouping"

    def __init__(self, grouping: Grouping, routes: Mapping[str, Route]) -> None:
        self.grouping = grouping
        self.routes = routes

    async def decide(self, notification: Notification, now: float) -> Verdict:
        return await self.grouping.join_routes(notification, self.routes, now)

    def notified(self, notification: Notification, now: float) -> None:
        return None

    async def save(self, publish: Publish, clock: Clock) -> None:
        return None  # saved by the grouping stage


async def run_stages(plan: Plan, notification: Notification, now: float, stages: list[Stage] | None = None) -> None:
    """Pass one notification through the plan's stages (or only `stages` of them) and add what follows to the plan."""
    stages = plan.stages if stages is None else stages
    verdict: Verdict = Passed("no stage")
    for stage in stages:
        verdict = await stage.decide(notification, now)
        plan.timers.extend(verdict.timers)
        if not isinstance(verdict, Passed):
            break
    if isinstance(verdict, Suppressed):
        for job in notification.jobs:
            plan.suppressed.append(Suppression(verdict.by, suppressed_result(job, verdict.reason, now)))
        return
    for stage in stages:
        stage.notified(notification, now)
    if isinstance(verdict, Passed):
        plan.jobs.extend(notification.jobs)
