"""The muting stage, first for every notification: silenced or inhibited notifications are suppressed.

A notification (fired, updated or resolved: Alertmanager mutes a resolved alert too) is muted when an open alert
of the same tenant inhibits its labels (`inhibited by <event id>`), else when an active silence of the tenant, or
an open window of a recurring one, matches them (`silenced by <silence id>`); services/common/domain/notify/
muting.py decides, at the batch's `now`. Silences and inhibit rules come from the notifier's mirrors of the
gateway's buckets, so a silence created after an alert fired mutes its next notification.

The stage also keeps the open alerts inhibition needs (muting/open_alerts.py): every alert of the batch, with or
without a notification, opens (fired, updated) or closes (resolved) in stream order, before its own notification
is decided; the batch's changes are written when it is saved. A tenant's silences, rules and alerts never meet
another tenant's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from services.common.domain.inhibition.inhibit_rules import InhibitRule
from services.common.domain.lifecycle.transitions import Transition
from services.common.domain.notify.muting import OpenAlert, mute
from services.common.domain.silences.model import Silence
from services.common.domain.silences.recurring import RecurringSilence
from services.common.messages.muting import OpenAlertEntry
from services.notifier.muting.mirrors import InhibitRuleMirror, SilenceMirror
from services.notifier.muting.open_alerts import OpenAlerts, refuse
from services.notifier.stages.base import Clock, Notification, Passed, Publish, Suppressed, Verdict

OPENING_KINDS = ("fired", "updated")


@dataclass(frozen=True)
class MutingSources:
    """What the stage reads: the silence and inhibit-rule mirrors, and the open alerts."""

    silences: SilenceMirror
    rules: InhibitRuleMirror
    open_alerts: OpenAlerts

    @property
    def loaded(self) -> bool:
        """Whether every mirror has read its bucket (the notifier is not ready before)."""
        mirrors = (self.silences, self.rules, self.open_alerts.mirror)
        return all(mirror.loaded.is_set() for mirror in mirrors)


@dataclass
class TenantMuting:
    """One tenant's silences and inhibit rules as read once per batch."""

    silences: list[Silence] = field(default_factory=list)
    recurring: list[RecurringSilence] = field(default_factory=list)
    rules: list[InhibitRule] = field(default_factory=list)


class Muting:
    """Mutes silenced and inhibited notifications; records the batch's opened and closed alerts."""

    name = "muting"

    def __init__(self, sources: MutingSources) -> None:
        self.sources = sources
        self.tenants: dict[str, TenantMuting] = {}
        self.opened: dict[tuple[str, str], OpenAlertEntry] = {}
        self.closed: set[tuple[str, str]] = set()

    def track(self, transition: Transition) -> None:
        """Open or close the transition's alert (in stream order, before its notification is decided)."""
        key = (transition.tenant, transition.event_id)
        if transition.kind == "resolved":
            self.opened.pop(key, None)
            self.closed.add(key)
            return
        if transition.kind not in OPENING_KINDS or key in self.closed:
            return
        known = self.sources.open_alerts.of_tenant(transition.tenant)
        if transition.event_id in known or key in self.opened:
            return
        alert = OpenAlert(transition.event_id, dict(transition.labels))
        limit = self.sources.open_alerts.limit
        if self.sources.open_alerts.count(transition.tenant) + self._opened_in(transition.tenant) >= limit:
            refuse(transition.tenant, alert, limit)
            return
        self.opened[key] = OpenAlertEntry(alert, transition.rule_id)

    async def decide(self, notification: Notification, now: float) -> Verdict:
        transition = notification.transition
        tenant = self._tenant(transition.tenant)
        open_alerts = self._open_alerts(transition) if tenant.rules else []
        muted = mute(
            transition.labels,
            silences=tenant.silences,
            recurring=tenant.recurring,
            rules=tenant.rules,
            open_alerts=open_alerts,
            now=datetime.fromtimestamp(now, UTC),
        )
        if muted is None:
            return Passed("neither silenced nor inhibited")
        return Suppressed(self.name, muted.reason)

    def notified(self, notification: Notification, now: float) -> None:
        return None

    async def save(self, publish: Publish, clock: Clock) -> None:
        store = self.sources.open_alerts
        for (tenant, _), entry in self.opened.items():
            await store.open(tenant, entry)
        for tenant, event_id in self.closed:
            await store.close(tenant, event_id)

    def _tenant(self, tenant: str) -> TenantMuting:
        if tenant not in self.tenants:
            held = TenantMuting(rules=[entry.rule for entry in self.sources.rules.of_tenant(tenant)])
            for entry in self.sources.silences.of_tenant(tenant):
                if isinstance(entry.silence, RecurringSilence):
                    held.recurring.append(entry.silence)
                else:
                    held.silences.append(entry.silence)
            self.tenants[tenant] = held
        return self.tenants[tenant]

    def _open_alerts(self, transition: Transition) -> list[OpenAlert]:
        """The tenant's open alerts as this batch leaves them, without the notified alert itself."""
        tenant = transition.tenant
        alerts = {event_id: entry.alert for event_id, entry in self.sources.open_alerts.of_tenant(tenant).items()}
        alerts.update({event_id: entry.alert for (t, event_id), entry in self.opened.items() if t == tenant})
        for t, event_id in self.closed:
            if t == tenant:
                alerts.pop(event_id, None)
        alerts.pop(transition.event_id, None)  # an alert never inhibits itself
        return list(alerts.values())

    def _opened_in(self, tenant: str) -> int:
        return sum(1 for t, _ in self.opened if t == tenant)
