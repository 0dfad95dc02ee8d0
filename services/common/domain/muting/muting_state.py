"""Which silences and which open events mute each of a tenant's open events now, decided at query time.

The one answer `GET /cep/events` (`silenced_by`, `inhibited_by`) and `GET /api/v2/alerts` (`status.silencedBy`,
`status.inhibitedBy`, `status.state`) give, composed from the two cores Alertmanager has apart: silences
(silences/muting.py) and inhibition (inhibition/inhibit_rules.py). Every open event is a possible inhibition source,
muted or not, as Alertmanager's inhibitor counts every unresolved alert. `inhibitedBy` names the sources by
fingerprint (the v2 API's unit); `inhibited_by_events` names the events that carry those fingerprints.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from services.common.domain.inhibition.inhibit_rules import InhibitRule
from services.common.domain.labels.label_set import LabelSet, fingerprint
from services.common.domain.labels.matchers import matches_all
from services.common.domain.silences.model import Silence
from services.common.domain.silences.muting import silenced


@dataclass(frozen=True)
class Muting:
    """What mutes one event now: silence ids, inhibiting fingerprints and the events behind them (all sorted)."""

    silenced_by: tuple[str, ...] = ()
    inhibited_by: tuple[str, ...] = ()
    inhibited_by_events: tuple[str, ...] = ()

    @property
    def muted(self) -> bool:
        return bool(self.silenced_by or self.inhibited_by)

    @property
    def state(self) -> str:
        """Alertmanager's `status.state`: `suppressed` when silenced or inhibited, else `active`."""
        return "suppressed" if self.muted else "active"


def muting_states(
    open_events: Mapping[str, LabelSet],
    silences: Sequence[Silence],
    inhibit_rules: Sequence[InhibitRule],
    now: datetime,
) -> dict[str, Muting]:
    """The muting of every open event (by event id) at `now`, under the tenant's silences and inhibit rules.

    The verdicts are `inhibited()`'s (inhibition/inhibit_rules.py), computed through an index of each rule's
    sources by their `equal` values, so a query over thousands of open events costs events x rules, not events².
    """
    events_by_fingerprint: dict[str, list[str]] = {}
    for event_id, labels in open_events.items():
        events_by_fingerprint.setdefault(fingerprint(labels), []).append(event_id)
    indexes = [_SourceIndex(rule, open_events.values()) for rule in inhibit_rules]
    out: dict[str, Muting] = {}
    for event_id, labels in open_events.items():
        by = silenced(labels, silences, now).by
        inhibitors = tuple(sorted({fp for index in indexes for fp in index.inhibitors(labels)}))
        events = sorted({e for fp in inhibitors for e in events_by_fingerprint.get(fp, ()) if e != event_id})
        out[event_id] = Muting(by, inhibitors, tuple(events))
    return out


class _SourceIndex:
    """One inhibit rule's source alerts by their values of the `equal` labels (a missing label reads as empty)."""

    def __init__(self, rule: InhibitRule, open_alerts: Iterable[LabelSet]) -> None:
        self.rule = rule
        self.sources: dict[tuple[str, ...], list[tuple[str, LabelSet]]] = {}
        for source in open_alerts:
            if matches_all(rule.source, source):
                self.sources.setdefault(self._key(source), []).append((fingerprint(source), source))

    def _key(self, labels: LabelSet) -> tuple[str, ...]:
        return tuple(labels.get(name, "") for name in self.rule.equal)

    def inhibitors(self, target: LabelSet) -> list[str]:
        """The fingerprints of the sources that inhibit `target` under this rule (`inhibited()`'s semantics)."""
        if not matches_all(self.rule.target, target):
            return []
        both_sides = matches_all(self.rule.source, target)
        return [
            fp
            for fp, source in self.sources.get(self._key(target), ())
            if not (both_sides and matches_all(self.rule.target, source))
        ]
