"""Which silences and which open events mute each of a tenant's open events now, decided at query time.

The one answer `GET /cep/events` (`silenced_by`, `inhibited_by`) and `GET /api/v2/alerts` (`status.silencedBy`,
`status.inhibitedBy`, `status.state`) give, composed from the two cores Alertmanager has apart: silences
(silences/muting.py) and inhibition (inhibition/inhibit_rules.py). Every open event is a possible inhibition source,
muted or not, as Alertmanager's inhibitor counts every unresolved alert. `inhibitedBy` names the sources by
fingerprint (the v2 API's unit); `inhibited_by_events` names the events that carry those fingerprints.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from services.common.domain.inhibition.inhibit_rules import InhibitRule, inhibited
from services.common.domain.labels.label_set import LabelSet, fingerprint
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
    """The muting of every open event (by event id) at `now`, under the tenant's silences and inhibit rules."""
    sources = list(open_events.values())
    events_by_fingerprint: dict[str, list[str]] = {}
    for event_id, labels in open_events.items():
        events_by_fingerprint.setdefault(fingerprint(labels), []).append(event_id)
    out: dict[str, Muting] = {}
    for event_id, labels in open_events.items():
        by = silenced(labels, silences, now).by
        inhibitors = inhibited(labels, inhibit_rules, sources).by if inhibit_rules else ()
        events = sorted({e for fp in inhibitors for e in events_by_fingerprint.get(fp, ()) if e != event_id})
        out[event_id] = Muting(by, inhibitors, tuple(events))
    return out
