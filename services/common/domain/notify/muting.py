"""Whether a notification is muted, and why: inhibition first, then silences, as Alertmanager's mute stages run.

Alertmanager's notification pipeline mutes with the inhibitor before the silencer, and so does `mute`: an alert
that is both inhibited and silenced is recorded as inhibited. A silence mutes while it is active; a recurring
silence only inside one of its windows. An inhibit rule mutes a target while an open source alert of the same
tenant matches (inhibition/inhibit_rules.py: an alert never inhibits itself nor one of its own kind). Every
verdict names what muted: the silence ids, or the event ids of the inhibiting alerts, sorted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from services.common.domain.inhibition.inhibit_rules import InhibitRule, inhibited
from services.common.domain.labels.label_set import LabelSet, fingerprint, normalize
from services.common.domain.labels.matchers import matches_all
from services.common.domain.silences.model import Silence
from services.common.domain.silences.muting import silenced
from services.common.domain.silences.recurring import RecurringSilence, mutes


@dataclass(frozen=True)
class OpenAlert:
    """A firing, unresolved alert that may inhibit others: its event id and its labels."""

    event_id: str
    labels: Mapping[str, str]


@dataclass(frozen=True)
class Muted:
    """Why a notification is muted: `kind` is `silenced` or `inhibited`, `by` the silence or event ids."""

    kind: str
    by: tuple[str, ...]

    @property
    def reason(self) -> str:
        """`silenced by <silence id>` or `inhibited by <event id>` (several ids joined by ", ")."""
        return f"{self.kind} by {', '.join(self.by)}"


def inhibiting_events(
    labels: LabelSet, rules: Iterable[InhibitRule], open_alerts: Iterable[OpenAlert]
) -> tuple[str, ...]:
    """The event ids of the open alerts that inhibit `labels` under any of the rules, sorted."""
    target = normalize(labels)
    applicable = [rule for rule in rules if matches_all(rule.target, target)]
    if not applicable:
        return ()
    # Only alerts some applicable rule's source accepts can inhibit: `inhibited` decides among those.
    candidates = [a for a in open_alerts if any(matches_all(rule.source, a.labels) for rule in applicable)]
    by_fingerprint: dict[str, list[str]] = {}
    sources = []
    for alert in candidates:
        source = normalize(alert.labels)
        by_fingerprint.setdefault(fingerprint(source), []).append(alert.event_id)
        sources.append(source)
    found = inhibited(target, applicable, sources).by
    return tuple(sorted({event_id for fp in found for event_id in by_fingerprint[fp]}))


def silencing(
    labels: LabelSet, silences: Iterable[Silence], recurring: Iterable[RecurringSilence], now: datetime
) -> tuple[str, ...]:
    """The ids of the silences that mute `labels` at `now`: active fixed ones, and recurring ones in a window."""
    target = normalize(labels)
    ids = set(silenced(target, silences, now).by)
    ids.update(silence.id for silence in recurring if mutes(silence, target, now) is not None)
    return tuple(sorted(ids))


def mute(
    labels: LabelSet,
    *,
    silences: Iterable[Silence],
    recurring: Iterable[RecurringSilence],
    rules: Iterable[InhibitRule],
    open_alerts: Iterable[OpenAlert],
    now: datetime,
) -> Muted | None:
    """Whether a notification of an alert with `labels` is muted at `now`, and by what; None when it is not."""
    sources = inhibiting_events(labels, rules, open_alerts)
    if sources:
        return Muted("inhibited", sources)
    ids = silencing(labels, silences, recurring, now)
    return Muted("silenced", ids) if ids else None
