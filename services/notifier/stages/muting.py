"""The muting stage, first for every notification: silenced or inhibited notifications are suppressed.

A notification (fired, updated or resolved: Alertmanager mutes a resolved alert too) is muted when an open alert
of the same tenant inhibits its labels (`inhibited by <event id>`), else when an active silence of the tenant, or
an open window of a recurring one, matches them (`silenced by <silence id>`); services/common/domain/notify/
muting.py decides, at the batch's `now`. Silences and inhibit rules come from the notifier's mirrors of the
gateway's buckets, so a silence created after an alert fired mutes its next notification.

The stage also keeps the open alerts inhibition needs (muting/open_alerts.py): every alert of the batch, with or
without a notification, opens (fired, updated) or closes (resolved) in stream order, before its own notification
is decided; the batch's changes are written when it is saved. Each tenant's open alerts are indexed under its
inhibit rules (inhibition/source_index.py), kept as the open alerts change and rebuilt when its rules change, so
a decision looks up its sources instead of comparing itself with every open alert. A tenant's silences, rules
and alerts never meet another tenant's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from services.common.domain.inhibition.source_index import OpenAlert, SourceIndex
from services.common.domain.lifecycle.transitions import Transition
from services.common.domain.notify.muting import Muted, mute
from services.common.domain.silences.silence_index import SilenceIndex
from services.common.messages.muting import InhibitRuleEntry, OpenAlertEntry, SilenceEntry
from services.notifier.muting.mirrors import InhibitRuleMirror, SilenceMirror
from services.notifier.muting.open_alerts import OpenAlerts, refuse
from services.notifier.stages.base import Clock, Notification, Passed, Publish, Suppressed, Verdict

OPENING_KINDS = ("fired", "updated")


class MutingSources:
    """What the stage reads: the silence and inhibit-rule mirrors, the open alerts, and each tenant's open alerts
    indexed under its inhibit rules (built on first use, kept as alerts open and close, dropped on a rule change)."""

    def __init__(self, silences: SilenceMirror, rules: InhibitRuleMirror, open_alerts: OpenAlerts) -> None:
        self.silences = silences
        self.rules = rules
        self.open_alerts = open_alerts
        self.indexes: dict[str, SourceIndex] = {}
        self.silence_indexes: dict[str, SilenceIndex] = {}
        silences.listeners.append(self._silences_changed)
        rules.listeners.append(self._rules_changed)
        open_alerts.mirror.listeners.append(self._alert_changed)

    @property
    def loaded(self) -> bool:
        """Whether every mirror has read its bucket (the notifier is not ready before)."""
        mirrors = (self.silences, self.rules, self.open_alerts.mirror)
        return all(mirror.loaded.is_set() for mirror in mirrors)

    def index(self, tenant: str) -> SourceIndex:
        """The tenant's open alerts under its inhibit rules."""
        if tenant not in self.indexes:
            rules = [entry.rule for entry in self.rules.of_tenant(tenant)]
            alerts = [entry.alert for entry in self.open_alerts.of_tenant(tenant).values()] if rules else []
            self.indexes[tenant] = SourceIndex(rules, alerts)
        return self.indexes[tenant]

    def silence_index(self, tenant: str) -> SilenceIndex:
        """The tenant's silences, filed for lookup."""
        if tenant not in self.silence_indexes:
            silences = [entry.silence for entry in self.silences.of_tenant(tenant)]
            self.silence_indexes[tenant] = SilenceIndex(silences)
        return self.silence_indexes[tenant]

    def _silences_changed(self, tenant: str, silence_id: str, entry: SilenceEntry | None) -> None:
        self.silence_indexes.pop(tenant, None)

    def _rules_changed(self, tenant: str, rule_id: str, entry: InhibitRuleEntry | None) -> None:
        self.indexes.pop(tenant, None)

    def _alert_changed(self, tenant: str, event_id: str, entry: OpenAlertEntry | None) -> None:
        index = self.indexes.get(tenant)
        if index is None or not index.rules:
            return
        if entry is None:
            index.remove(event_id)
        else:
            index.add(entry.alert)


@dataclass
class TenantMuting:
    """One tenant in a batch: its silences and open-alert index as read, and the batch's own opened and closed
    alerts (`opened`, indexed under the same rules; `closed`, event ids that no longer count)."""

    silences: SilenceIndex
    index: SourceIndex
    opened: SourceIndex
    closed: set[str] = field(default_factory=set)


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
        tenant = self._tenant(transition.tenant)
        if transition.kind == "resolved":
            self.opened.pop(key, None)
            self.closed.add(key)
            tenant.opened.remove(transition.event_id)
            tenant.closed.add(transition.event_id)
            return
        if transition.kind not in OPENING_KINDS or key in self.closed or key in self.opened:
            return
        if transition.event_id in self.sources.open_alerts.of_tenant(transition.tenant):
            return
        alert = OpenAlert(transition.event_id, dict(transition.labels))
        limit = self.sources.open_alerts.limit
        if self.sources.open_alerts.count(transition.tenant) + len(tenant.opened.placed) >= limit:
            refuse(transition.tenant, alert, limit)
            return
        self.opened[key] = OpenAlertEntry(alert, transition.rule_id)
        tenant.opened.add(alert)

    async def decide(self, notification: Notification, now: float) -> Verdict:
        transition = notification.transition
        tenant = self._tenant(transition.tenant)
        silences, recurring = tenant.silences.candidates(transition.labels)
        muted = mute(
            transition.labels,
            silences=silences,
            recurring=recurring,
            sources=(tenant.index, tenant.opened),
            excluded=tenant.closed | {transition.event_id},  # an alert never inhibits itself
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
            index = self.sources.index(tenant)
            self.tenants[tenant] = TenantMuting(self.sources.silence_index(tenant), index, SourceIndex(index.rules))
        return self.tenants[tenant]


def mute_now(sources: MutingSources, transition: Transition, now: float) -> Muted | None:
    """The muting verdict on a notification outside a batch of alerts: a member of a group's flush or repeat."""
    silences, recurring = sources.silence_index(transition.tenant).candidates(transition.labels)
    return mute(
        transition.labels,
        silences=silences,
        recurring=recurring,
        sources=(sources.index(transition.tenant),),
        excluded={transition.event_id},
        now=datetime.fromtimestamp(now, UTC),
    )
