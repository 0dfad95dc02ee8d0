"""Whether a notification is muted, and why: inhibition first, then silences, as Alertmanager's mute stages run.

Alertmanager's notification pipeline mutes with the inhibitor before the silencer, and so does `mute`: an alert
that is both inhibited and silenced is recorded as inhibited. A silence mutes while it is active; a recurring
silence only inside one of its windows. An inhibit rule mutes a target while an open source alert of the same
tenant matches (inhibition/source_index.py, which answers as inhibition/inhibit_rules.py: an alert never inhibits
itself nor one of its own kind). Every verdict names what muted: the silence ids, or the event ids of the
inhibiting alerts, sorted.
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from dataclasses import dataclass
from datetime import datetime

from services.common.domain.inhibition.source_index import SourceIndex
from services.common.domain.labels.label_set import LabelSet, normalize
from services.common.domain.silences.model import Silence
from services.common.domain.silences.muting import silenced
from services.common.domain.silences.recurring import RecurringSilence, mutes


@dataclass(frozen=True)
class Muted:
    """Why a notification is muted: `kind` is `silenced` or `inhibited`, `by` the silence or event ids."""

    kind: str
    by: tuple[str, ...]

    @property
    def reason(self) -> str:
        """`silenced by <silence id>` or `inhibited by <event id>` (several ids joined by ", ")."""
        return f"{self.kind} by {', '.join(self.by)}"


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
    sources: Iterable[SourceIndex],
    excluded: Container[str],
    now: datetime,
) -> Muted | None:
    """Whether a notification of an alert with `labels` is muted at `now`, and by what; None when it is not.

    `sources` hold the tenant's open alerts under its inhibit rules; `excluded` are event ids that do not count
    (the notified alert itself, alerts closed since the index was built)."""
    target = normalize(labels)
    inhibiting = set().union(*(index.inhibiting(target, excluded) for index in sources))
    if inhibiting:
        return Muted("inhibited", tuple(sorted(inhibiting)))
    ids = silencing(target, silences, recurring, now)
    return Muted("silenced", ids) if ids else None
