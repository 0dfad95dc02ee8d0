"""Alerts -> notifications: the noise stage (cooldown, storm budget) decides which transitions are sent, and
the grouping stage holds back the notifications of grouping rules for their group's next batch (groups.py).

A batch of alerts becomes a Plan: delivery jobs for what is sent, `suppressed` results (recorded on the event,
with the reason) for what is not, and a digest timer for each storm window's first suppression. The service
publishes the plan and only then saves the noise state and acks the alerts, so a crash in between repeats the
batch: jobs and results are de-duplicated by their message ids, and at worst a notification is counted twice
in a storm window (never lost). Concurrent replicas save the state by compare-and-set and re-count on conflict.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from services.common import codec
from services.common.codec import DeliveryJob, DeliveryResult, DigestJob, GroupJob
from services.common.domain.grouping import GroupPolicy, GroupState, group_id, join
from services.common.domain.noise import CooldownMark, NoisePolicy, StormState, admit, cool
from services.common.domain.transitions import Transition
from services.notifier.jobs import jobs_for

log = logging.getLogger(__name__)
SAVE_TRIES = 5


class Rules(Protocol):
    async def rule(self, tenant: str, rule_id: str) -> dict[str, Any] | None: ...


class NoiseStore:
    """The noise bucket: a storm state per rule (read with its revision) and a cooldown mark per alert."""

    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    async def storm(self, tenant: str, rule_id: str) -> tuple[StormState, int | None]:
        try:
            entry = await self.kv.get(f"{tenant}.{rule_id}")
        except KeyNotFoundError:
            return StormState(), None
        if not entry.value:  # deleted or purged: start over, but keep the revision for the compare-and-set
            return StormState(), entry.revision
        return StormState.from_dict(codec.loads(entry.value)), entry.revision

    async def save_storm(self, tenant: str, rule_id: str, state: StormState, revision: int | None) -> int:
        """Compare-and-set; raises KeyWrongLastSequenceError when another writer got there first."""
        value = codec.dumps(state.as_dict())
        key = f"{tenant}.{rule_id}"
        if revision is None:
            return await self.kv.create(key, value)
        return await self.kv.update(key, value, last=revision)

    async def mark(self, tenant: str, rule_id: str, fingerprint: str) -> CooldownMark | None:
        try:
            entry = await self.kv.get(f"{tenant}.{rule_id}.{fingerprint}")
        except KeyNotFoundError:
            return None
        return CooldownMark.from_dict(codec.loads(entry.value)) if entry.value else None

    async def put_mark(self, tenant: str, rule_id: str, fingerprint: str, mark: CooldownMark) -> None:
        await self.kv.put(f"{tenant}.{rule_id}.{fingerprint}", codec.dumps(mark.as_dict()))


@dataclass
class RuleNoise:
    """One rule's noise state while a batch is planned: what it was read as, and the keys counted into it."""

    tenant: str
    rule_id: str
    policy: NoisePolicy
    state: StormState
    revision: int | None
    counted: list[str] = field(default_factory=list)
    marks: dict[str, CooldownMark | None] = field(default_factory=dict)
    new_marks: dict[str, CooldownMark] = field(default_factory=dict)
    grouping: GroupPolicy | None = None


@dataclass
class GroupNoise:
    """One group's state while a batch is planned, and the transitions that joined it."""

    tenant: str
    rule_id: str
    group: str
    policy: GroupPolicy
    state: GroupState
    revision: int | None
    joined: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Plan:
    """What a batch of alerts publishes, and the noise state to save once it is published."""

    jobs: list[DeliveryJob] = field(default_factory=list)
    suppressed: list[DeliveryResult] = field(default_factory=list)
    timers: list[DigestJob | GroupJob] = field(default_factory=list)
    rules: dict[tuple[str, str], RuleNoise] = field(default_factory=dict)
    groups: dict[tuple[str, str, str], GroupNoise] = field(default_factory=dict)


class FanOut:
    """Plans batches of alerts and saves the noise state after their publication."""

    def __init__(
        self, rules: Rules, store: NoiseStore, groups: Any = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.rules = rules
        self.store = store
        self.groups = groups  # a GroupStore (groups.py); None turns grouping off (tests of the other stages)
        self.clock = clock

    async def plan(self, alerts: list[tuple[Transition, list[dict[str, Any]]]]) -> Plan:
        now = self.clock()
        plan = Plan()
        for transition, actions in alerts:
            jobs = jobs_for(transition, actions)
            if not jobs:
                continue
            if transition.trigger_type == "schedule":  # every run is its own event: never suppressed
                plan.jobs.extend(jobs)
                continue
            noise = await self._noise(plan, transition)
            sent, reason = await self._cooldown(noise, transition, now)
            if sent:
                admission = admit(noise.state, now, noise.policy, transition.group_key)
                noise.counted.append(transition.group_key)
                sent, reason = admission.send, admission.reason
                if admission.digest_due is not None:
                    plan.timers.append(
                        DigestJob(
                            "digest-timer",
                            transition.tenant,
                            transition.rule_id,
                            transition.rule_name,
                            admission.window_start,
                            admission.digest_due,
                            window={"budget": noise.policy.budget, "length": noise.policy.window},
                        )
                    )
            if sent:
                if noise.grouping is not None and self.groups is not None:
                    await self._join(plan, noise.grouping, transition, now)
                else:
                    plan.jobs.extend(jobs)
                if noise.policy.cooldown is not None and transition.kind == "fired":
                    mark = CooldownMark(now, transition.event_id)
                    noise.marks[transition.fingerprint] = noise.new_marks[transition.fingerprint] = mark
            else:
                plan.suppressed.extend(_suppressed(job, reason, now) for job in jobs)
        return plan

    async def _noise(self, plan: Plan, transition: Transition) -> RuleNoise:
        key = (transition.tenant, transition.rule_id)
        noise = plan.rules.get(key)
        if noise is None:
            rule = await self.rules.rule(transition.tenant, transition.rule_id)
            suppression = (rule or {}).get("suppression")
            policy = NoisePolicy.of(suppression)
            state, revision = await self.store.storm(transition.tenant, transition.rule_id)
            noise = plan.rules[key] = RuleNoise(transition.tenant, transition.rule_id, policy, state, revision)
            noise.grouping = GroupPolicy.of(suppression)
        return noise

    async def _join(self, plan: Plan, policy: GroupPolicy, transition: Transition, now: float) -> None:
        labels = policy.labels(transition.payload)
        group = group_id(labels)
        key = (transition.tenant, transition.rule_id, group)
        held = plan.groups.get(key)
        if held is None:
            state, revision = await self.groups.load(transition.tenant, transition.rule_id, group, labels)
            held = plan.groups[key] = GroupNoise(transition.tenant, transition.rule_id, group, policy, state, revision)
        member = transition.as_dict()
        held.joined.append(member)
        due = join(held.state, member, now, policy)
        if due is not None:
            plan.timers.append(_flush_timer(held, labels, due))

    async def _cooldown(self, noise: RuleNoise, transition: Transition, now: float) -> tuple[bool, str]:
        cooldown = noise.policy.cooldown
        if cooldown is None or transition.kind not in ("fired", "resolved"):
            return True, ""
        fp = transition.fingerprint
        if fp not in noise.marks:
            noise.marks[fp] = await self.store.mark(noise.tenant, noise.rule_id, fp)
        return cool(noise.marks[fp], transition.kind, transition.event_id, now, cooldown)

    async def save(self, plan: Plan, publish: Callable[[list[GroupJob]], Awaitable[None]]) -> None:
        """Save every rule's storm state (compare-and-set, re-counting on a conflict), the new cooldown marks and
        the groups joined (re-joining on a conflict; a flush timer that then becomes due is published)."""
        for held in plan.groups.values():
            group_state, group_revision = held.state, held.revision
            for _ in range(SAVE_TRIES):
                try:
                    await self.groups.save(held.tenant, held.rule_id, held.group, group_state, group_revision)
                    break
                except KeyWrongLastSequenceError:
                    group_state, group_revision = await self.groups.load(
                        held.tenant, held.rule_id, held.group, held.state.labels
                    )
                    now = self.clock()
                    due = [join(group_state, member, now, held.policy) for member in held.joined]
                    timers = [
                        _flush_timer(held, group_state.labels, d, group_state.flushes) for d in due if d is not None
                    ]
                    if timers:
                        await publish(timers)
            else:
                raise RuntimeError(f"group {held.group} of rule {held.rule_id} kept changing; the batch comes back")
        for noise in plan.rules.values():
            for mark_fp, mark in noise.new_marks.items():
                await self.store.put_mark(noise.tenant, noise.rule_id, mark_fp, mark)
            if not noise.counted:
                continue
            state, revision = noise.state, noise.revision
            for attempt in range(SAVE_TRIES):
                try:
                    await self.store.save_storm(noise.tenant, noise.rule_id, state, revision)
                    break
                except KeyWrongLastSequenceError:
                    if attempt == SAVE_TRIES - 1:
                        log.warning("storm state of rule %s kept changing; counts may be short", noise.rule_id)
                        break
                    state, revision = await self.store.storm(noise.tenant, noise.rule_id)
                    now = self.clock()
                    for group_key in noise.counted:  # the verdicts stand (already published); the counts follow
                        admit(state, now, noise.policy, group_key)


def _flush_timer(held: GroupNoise, labels: str, due: float, flushes: int | None = None) -> GroupJob:
    number = held.state.flushes if flushes is None else flushes
    return GroupJob("group-timer", held.tenant, held.rule_id, held.group, labels, due, number)


def _suppressed(job: DeliveryJob, reason: str, now: float) -> DeliveryResult:
    """The recorded result of a notification a noise stage stopped: status `suppressed`, with the reason."""
    return DeliveryResult(
        tenant=job.tenant,
        event_id=job.transition.event_id,
        transition_id=job.transition.transition_id,
        action_index=job.index,
        channel=str(job.action.get("channel")),
        channel_id=None,
        type=str(job.action.get("type") or "notify"),
        status="suppressed",
        attempt=0,
        at=datetime.fromtimestamp(now, UTC),
        final=True,
        reason=reason,
    )
