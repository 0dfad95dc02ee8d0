"""The storm budget stage: a rule sends at most `suppression.storm_budget` notifications per `storm_window`
(services/common/domain/notify/noise.py: `admit`); past it, notifications are suppressed and counted for the digest.

A window's first suppression sets the digest timer (a DigestJob held in the delivery stream until the window
ends; digests.py sends the digest). The storm state of a rule lives in the noise bucket, key `<tenant>.<rule_id>`,
saved by compare-and-set: on a conflict, this batch's counts are counted again into the state as it is now (the
verdicts stand: they are published already).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from services.common.domain.notify.noise import NoisePolicy, StormState, admit
from services.common.messages import codec
from services.common.messages.delivery import DigestJob
from services.notifier.compare_and_set import save_with_retries
from services.notifier.stages.base import Clock, Notification, Passed, Publish, Suppressed, Verdict


class StormStore:
    """Storm states in the noise bucket, one per rule, read with their revision (for the compare-and-set)."""

    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    async def load(self, tenant: str, rule_id: str) -> tuple[StormState, int | None]:
        try:
            entry = await self.kv.get(f"{tenant}.{rule_id}")
        except KeyNotFoundError:
            return StormState(), None
        if not entry.value:  # deleted or purged: start over, but keep the revision for the compare-and-set
            return StormState(), entry.revision
        return StormState.from_dict(codec.loads(entry.value)), entry.revision

    async def save(self, tenant: str, rule_id: str, state: StormState, revision: int | None) -> int:
        """Compare-and-set; raises KeyWrongLastSequenceError when another writer got there first."""
        value = codec.dumps(state.as_dict())
        key = f"{tenant}.{rule_id}"
        if revision is None:
            return await self.kv.create(key, value)
        return await self.kv.update(key, value, last=revision)


@dataclass
class RuleStorm:
    """One rule's storm state in a batch: as read (with its revision), and the group keys counted into it."""

    tenant: str
    rule_id: str
    policy: NoisePolicy
    state: StormState
    revision: int | None
    counted: list[str] = field(default_factory=list)


class StormBudget:
    """Reads each rule's storm state once per batch and counts every notification that reaches it."""

    name = "storm"

    def __init__(self, store: StormStore) -> None:
        self.store = store
        self.rules: dict[tuple[str, str], RuleStorm] = {}

    async def decide(self, notification: Notification, now: float) -> Verdict:
        transition = notification.transition
        storm = await self._storm(notification)
        admission = admit(storm.state, now, storm.policy, transition.group_key)
        storm.counted.append(transition.group_key)
        due = admission.digest_due
        timers = () if due is None else (_digest_timer(storm, transition.rule_name, admission.window_start, due),)
        if admission.send:
            return Passed(admission.reason, timers)
        return Suppressed(self.name, admission.reason, timers)

    def notified(self, notification: Notification, now: float) -> None:
        return None

    async def save(self, publish: Publish, clock: Clock) -> None:
        for storm in self.rules.values():
            if not storm.counted:
                continue
            await save_with_retries(
                partial(self.store.save, storm.tenant, storm.rule_id),
                partial(self._recount, storm, clock),
                storm.state,
                storm.revision,
                f"storm state of rule {storm.rule_id}",
            )

    async def _storm(self, notification: Notification) -> RuleStorm:
        transition = notification.transition
        key = (transition.tenant, transition.rule_id)
        if key not in self.rules:
            state, revision = await self.store.load(*key)
            policy = NoisePolicy.of(notification.suppression)
            self.rules[key] = RuleStorm(transition.tenant, transition.rule_id, policy, state, revision)
        return self.rules[key]

    async def _recount(self, storm: RuleStorm, clock: Clock) -> tuple[StormState, int | None]:
        """The rule's state as it is now, with this batch's notifications counted into it again."""
        state, revision = await self.store.load(storm.tenant, storm.rule_id)
        now = clock()
        for group_key in storm.counted:
            admit(state, now, storm.policy, group_key)
        return state, revision


def _digest_timer(storm: RuleStorm, rule_name: str, window_start: float, due: float) -> DigestJob:
    """The timer of a window's digest: due when the window ends, carrying the budget it was counted against."""
    window = {"budget": storm.policy.budget, "length": storm.policy.window}
    return DigestJob("digest-timer", storm.tenant, storm.rule_id, rule_name, window_start, due, window=window)
