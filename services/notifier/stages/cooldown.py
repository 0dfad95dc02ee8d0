"""The cooldown stage: a firing within the rule's `suppression.cooldown` after the last firing sent for the same
alert is suppressed, and so is that episode's resolution (services/common/domain/notify/noise.py: `cool`).

The marks (the last firing sent, per alert) live in the noise bucket, key `<tenant>.<rule_id>.<fingerprint>`. A
firing that went out (now, or with its group) leaves a new mark, written when the batch is saved.
"""

from __future__ import annotations

from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from services.common.domain.lifecycle.transitions import Transition
from services.common.domain.notify.noise import CooldownMark, NoisePolicy, cool
from services.common.messages import codec
from services.notifier.stages.base import Clock, Notification, Passed, Publish, Suppressed, Verdict

AlertKey = tuple[str, str, str]  # tenant, rule id, alert fingerprint
COOLED_KINDS = ("fired", "resolved")


class MarkStore:
    """Cooldown marks in the noise bucket, one per alert."""

    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    async def load(self, tenant: str, rule_id: str, fingerprint: str) -> CooldownMark | None:
        try:
            entry = await self.kv.get(f"{tenant}.{rule_id}.{fingerprint}")
        except KeyNotFoundError:
            return None
        return CooldownMark.from_dict(codec.loads(entry.value)) if entry.value else None

    async def put(self, tenant: str, rule_id: str, fingerprint: str, mark: CooldownMark) -> None:
        await self.kv.put(f"{tenant}.{rule_id}.{fingerprint}", codec.dumps(mark.as_dict()))


class Cooldown:
    """Reads each alert's mark once per batch; `marks` holds them as read or as set by this batch."""

    name = "cooldown"

    def __init__(self, store: MarkStore) -> None:
        self.store = store
        self.marks: dict[AlertKey, CooldownMark | None] = {}
        self.new_marks: dict[AlertKey, CooldownMark] = {}

    async def decide(self, notification: Notification, now: float) -> Verdict:
        transition = notification.transition
        cooldown = NoisePolicy.of(notification.suppression).cooldown
        if cooldown is None or transition.kind not in COOLED_KINDS:
            return Passed("no cooldown applies")
        key = _alert_key(transition)
        if key not in self.marks:
            self.marks[key] = await self.store.load(*key)
        sent, reason = cool(self.marks[key], transition.kind, transition.event_id, now, cooldown)
        return Passed(reason) if sent else Suppressed(self.name, reason)

    def notified(self, notification: Notification, now: float) -> None:
        transition = notification.transition
        if NoisePolicy.of(notification.suppression).cooldown is not None and transition.kind == "fired":
            key = _alert_key(transition)
            self.marks[key] = self.new_marks[key] = CooldownMark(now, transition.event_id)

    async def save(self, publish: Publish, clock: Clock) -> None:
        for (tenant, rule_id, fingerprint), mark in self.new_marks.items():
            await self.store.put(tenant, rule_id, fingerprint, mark)


def _alert_key(transition: Transition) -> AlertKey:
    return transition.tenant, transition.rule_id, transition.fingerprint
