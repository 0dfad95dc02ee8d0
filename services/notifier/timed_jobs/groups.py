"""The grouping stage's I/O: group states in the noise bucket, and what a flush or repeat timer does when due.

A due timer takes its batch in two steps, so a crash loses nothing and sends nothing twice: (1) the batch moves
from `pending` into `inflight[<flush number>]` (compare-and-set); (2) the batch's jobs (one per action channel,
plus the next repeat timer) are published with ids derived from the flush number, then the inflight entry is
removed. A timer redelivered after a crash finds its batch in `inflight` and publishes it again (the stream
de-duplicates by id). ACKs take alerts out of the repeats (`acknowledge`; a policy route's groups by the alert's
labels, `acknowledge_routes`). Members that are silenced or inhibited
when the batch goes out are left out of it (stages/muting.py: `mute_now`), as Alertmanager mutes at flush time; a
flush records `suppressed` for them, a repeat records nothing (repeats record nothing per member), and they stay
in the group, so the next repeat after the silence ends includes them again.

A notification policy route's group (its `rule_id` is the route's scope, `policy-0-1`) takes its timings and
channels from the tenant's policy as it is when the timer fires (`PolicyMirror.route_group`); each channel's batch
holds the members that go to that channel (`policy_channels`), and carries the route's key and group labels for
Alertmanager's webhook body. A route the policy no longer has sends nothing. A route its time intervals mute when
the timer fires sends nothing either (Alertmanager judges them at flush, not only when an alert arrives): a flush
records `suppressed` for its members with the policy's reason, and the firing ones go out with the group's next
notification.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from services.common.domain.lifecycle.transitions import Transition
from services.common.domain.notify.grouping import GroupPolicy, GroupState, acknowledge, flush, group_id, repeat
from services.common.domain.routing.route_groups import POLICY_GROUP_INDEX, groups_of, scope_path
from services.common.messages import codec
from services.common.messages.alerts import Action, actions_of, channel_actions
from services.common.messages.delivery import DeliveryJob, DeliveryResult, GroupJob
from services.notifier.compare_and_set import SAVE_TRIES
from services.notifier.delivery.directory import Rules
from services.notifier.delivery.outputs import Publish
from services.notifier.stages.base import suppressed_result
from services.notifier.stages.muting import MutingSources, mute_now

if TYPE_CHECKING:
    from services.notifier.routing.policies import PolicyMirror, RouteGroup

Record = Callable[[DeliveryResult], Awaitable[None]]  # publishes one delivery result

log = logging.getLogger(__name__)


class GroupStore:
    """Group states in the noise bucket, key `<tenant>.<rule_id>.grp.<group id>` (read with the revision)."""

    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    @staticmethod
    def key(tenant: str, rule_id: str, group: str) -> str:
        return f"{tenant}.{rule_id}.grp.{group}"

    async def load(self, tenant: str, rule_id: str, group: str, labels: str = "") -> tuple[GroupState, int | None]:
        try:
            entry = await self.kv.get(self.key(tenant, rule_id, group))
        except KeyNotFoundError:
            return GroupState(labels), None
        if not entry.value:
            return GroupState(labels), entry.revision
        return GroupState.from_dict(codec.loads(entry.value)), entry.revision

    async def save(self, tenant: str, rule_id: str, group: str, state: GroupState, revision: int | None) -> None:
        """Compare-and-set; raises KeyWrongLastSequenceError when another writer got there first."""
        key, value = self.key(tenant, rule_id, group), codec.dumps(state.as_dict())
        if revision is None:
            await self.kv.create(key, value)
        else:
            await self.kv.update(key, value, last=revision)


@dataclass(frozen=True)
class Batch:
    """A batch taken from a group: members (transitions as dicts), how many more, whether it is a repeat."""

    number: int
    members: list[dict[str, Any]]
    dropped: int
    repeat: bool
    next_repeat: float | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Groups:
    def __init__(
        self,
        rules: Rules,
        store: GroupStore,
        muting: MutingSources | None = None,
        clock: Callable[[], float] = time.time,
        policies: PolicyMirror | None = None,
    ) -> None:
        self.rules = rules
        self.store = store
        self.muting = muting
        self.clock = clock
        self.policies = policies

    async def policy(self, tenant: str, rule_id: str) -> tuple[GroupPolicy | None, list[Action]]:
        route = self.route_group(tenant, rule_id)
        if route is not None:
            return route.policy, route.actions
        rule = await self.rules.rule(tenant, rule_id) or {}
        return GroupPolicy.of(rule.get("suppression")), actions_of(rule)

    def route_group(self, tenant: str, scope: str) -> RouteGroup | None:
        """The policy route's group `scope` names (None when it names a rule)."""
        if self.policies is None or scope_path(scope) is None:
            return None
        return self.policies.route_group(tenant, scope)

    def wait(self, timer: GroupJob) -> float:
        return max(0.0, timer.due - self.clock())

    async def fire(self, timer: GroupJob, publish: Publish, record: Record | None = None) -> int:
        """Run a due flush or repeat timer; the number of batch jobs published (0 when it had nothing to do).
        `record` publishes the `suppressed` results of a flush's muted members."""
        policy, actions = await self.policy(timer.tenant, timer.rule_id)
        if policy is None:  # the rule stopped grouping (or is gone): flush what waits, without repeats
            policy = GroupPolicy(())
        batch = await self._take(timer, policy)
        if batch is None:
            return 0
        route = self.route_group(timer.tenant, timer.rule_id)
        held = None if route is None else route.muted(self.clock())
        if held is not None:  # the route's time intervals mute it now: Alertmanager judges them at flush too
            members = await self._held_back(batch, actions, held, record)
        else:
            members = await self._unmuted(batch, actions, record)
        jobs = []
        for index, action, ref in channel_actions(actions):
            sent = members if route is None else [m for m in members if ref in m.get("policy_channels", (ref,))]
            if held is not None or (not sent and not batch.dropped):
                continue
            jobs.append(
                GroupJob(
                    "group",
                    timer.tenant,
                    timer.rule_id,
                    timer.group,
                    timer.labels,
                    timer.due,
                    batch.number,
                    index=index if route is None else POLICY_GROUP_INDEX + index,
                    action=action,
                    members=sent,
                    dropped=batch.dropped,
                    repeat=batch.repeat,
                    route_key=None if route is None else route.route_key,
                    group_labels=timer.group_labels,
                )
            )
        if batch.next_repeat is not None:
            jobs.append(
                GroupJob(
                    "repeat-timer",
                    timer.tenant,
                    timer.rule_id,
                    timer.group,
                    timer.labels,
                    batch.next_repeat,
                    batch.number,
                    group_labels=timer.group_labels,
                )
            )
        await publish(jobs)
        await self._done(timer, batch.number)
        return sum(job.kind == "group" for job in jobs)

    async def _unmuted(self, batch: Batch, actions: list[Action], record: Record | None) -> list[dict[str, Any]]:
        """The batch's members that are neither silenced nor inhibited now; a flush records the others."""
        if self.muting is None:
            return batch.members
        now, kept = self.clock(), []
        for member in batch.members:
            transition = Transition.from_dict(member)
            muted = mute_now(self.muting, transition, now)
            if muted is None:
                kept.append(member)
                continue
            log.info(
                "group member %s muted: %s", transition.event_id, muted.reason, extra={"tenant": transition.tenant}
            )
            if record is not None and not batch.repeat:
                await _record_suppressed(member, actions, muted.reason, now, record)
        return kept

    async def _held_back(
        self, batch: Batch, actions: list[Action], reason: str, record: Record | None
    ) -> list[dict[str, Any]]:
        """A batch its route's time intervals mute now sends nothing; a flush records each member `suppressed`
        (a repeat records nothing per member). The firing members stay in the group for its next notification."""
        log.info("group batch %d held back: %s", batch.number, reason)
        if record is not None and not batch.repeat:
            now = self.clock()
            for member in batch.members:
                await _record_suppressed(member, actions, reason, now, record)
        return []

    async def _take(self, timer: GroupJob, policy: GroupPolicy) -> Batch | None:
        """Move the timer's batch into `inflight` (or find it there after a crash); None when there is none."""
        for _ in range(SAVE_TRIES):
            state, revision = await self.store.load(timer.tenant, timer.rule_id, timer.group, timer.labels)
            resumed = state.inflight.get(str(timer.flushes + 1))
            if resumed is not None:
                return Batch(**resumed)
            if state.flushes != timer.flushes:
                return None  # a later flush or repeat made this timer stale
            now = self.clock()
            if timer.kind == "group-timer":
                members, dropped, next_repeat = flush(state, now, policy)
                batch = Batch(state.flushes, members, dropped, False, next_repeat)
            else:
                members, next_repeat = repeat(state, timer.flushes, now, policy)
                batch = Batch(state.flushes, members, 0, True, next_repeat)
            if batch.members or batch.dropped:
                state.inflight[str(batch.number)] = batch.as_dict()
            try:
                await self.store.save(timer.tenant, timer.rule_id, timer.group, state, revision)
            except KeyWrongLastSequenceError:
                continue
            return batch if batch.members or batch.dropped else None
        raise RuntimeError(f"group {timer.group} of rule {timer.rule_id} kept changing; the timer comes back")

    async def _done(self, timer: GroupJob, number: int) -> None:
        for _ in range(SAVE_TRIES):
            state, revision = await self.store.load(timer.tenant, timer.rule_id, timer.group, timer.labels)
            if state.inflight.pop(str(number), None) is None:
                return
            try:
                await self.store.save(timer.tenant, timer.rule_id, timer.group, state, revision)
                return
            except KeyWrongLastSequenceError:
                continue
        log.warning("group %s of rule %s: batch %d stays in flight", timer.group, timer.rule_id, number)

    async def acknowledge(self, tenant: str, rule_id: str, fingerprint: str, payload: Mapping[str, Any]) -> None:
        """Take an acknowledged alert out of its group's repeats."""
        policy, _ = await self.policy(tenant, rule_id)
        if policy is None or policy.repeat is None:
            return
        labels = policy.labels(payload)
        await self._leave_repeats(tenant, rule_id, group_id(labels), labels, fingerprint)

    async def acknowledge_routes(self, tenant: str, fingerprint: str, labels: Mapping[str, str]) -> None:
        """Take an acknowledged alert out of the repeats of each policy route group it is in: the groups the
        tenant's policy puts its labels in now (a route added or changed since it joined has no such group)."""
        entry = self.policies.of_tenant(tenant) if self.policies is not None else None
        if entry is None or not labels:
            return
        for ref in groups_of(entry.policy.config.route, labels):
            await self._leave_repeats(tenant, ref.scope, ref.group, ref.labels, fingerprint)

    async def _leave_repeats(self, tenant: str, scope: str, group: str, labels: str, fingerprint: str) -> None:
        for _ in range(SAVE_TRIES):
            state, revision = await self.store.load(tenant, scope, group, labels)
            if revision is None or not acknowledge(state, fingerprint):
                return
            try:
                await self.store.save(tenant, scope, group, state, revision)
                return
            except KeyWrongLastSequenceError:
                continue


async def _record_suppressed(
    member: dict[str, Any], actions: list[Action], reason: str, now: float, record: Record
) -> None:
    """Record a batch member `suppressed` for each channel it goes to, as the muting stage records it."""
    transition = Transition.from_dict(member)
    policy = "policy_channels" in member  # a policy group's member: its own channels, numbered apart
    for index, action, ref in channel_actions(actions):
        if policy and ref not in member["policy_channels"]:
            continue
        number = POLICY_GROUP_INDEX + index if policy else index
        await record(suppressed_result(DeliveryJob(transition, action, number), reason, now))
