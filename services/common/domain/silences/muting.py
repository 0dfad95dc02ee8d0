"""Which silences mute a label set at an instant, as Alertmanager's `silencedBy` lists them.

A label set is silenced by every active silence whose matchers all accept it; pending silences that match are
reported apart (Alertmanager remembers them to notice when they start) but do not mute. Ids come sorted, as in
the API, so the verdict is the same whatever order the silences are stored in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from services.common.domain.labels.label_set import LabelSet
from services.common.domain.labels.matchers import Matcher, matches_all
from services.common.domain.silences.model import Silence, SilenceState, state_at


class Silenced(BaseModel):
    """The silences that match a label set now: `by` (active, they mute it) and `pending` (not yet started)."""

    model_config = ConfigDict(frozen=True)

    by: tuple[str, ...] = ()
    pending: tuple[str, ...] = ()

    @property
    def muted(self) -> bool:
        return bool(self.by)


def silenced(labels: LabelSet, silences: Iterable[Silence], now: datetime) -> Silenced:
    """The active and pending silences whose matchers all accept `labels` at `now`."""
    active: list[str] = []
    pending: list[str] = []
    for silence in silences:
        if not matches_all(silence.matchers, labels):
            continue
        state = state_at(silence, now)
        if state is SilenceState.ACTIVE:
            active.append(silence.id)
        elif state is SilenceState.PENDING:
            pending.append(silence.id)
    return Silenced(by=tuple(sorted(active)), pending=tuple(sorted(pending)))


def preview(matchers: Sequence[Matcher], labels_by_key: Mapping[str, LabelSet]) -> list[str]:
    """The keys of the label sets these matchers accept (a new silence's preview over open events), sorted."""
    return sorted(key for key, labels in labels_by_key.items() if matches_all(matchers, labels))
