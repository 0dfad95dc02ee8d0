"""Silences indexed by one of their equality matchers, so a label set is checked only against silences that
could mute it.

A silence with a matcher `name="value"` (value not empty) can only mute label sets that hold exactly that label,
so it is filed under that (name, value); a silence without one is checked for every label set. `candidates`
returns the silences filed under the label set's own labels plus the unfiled ones; the decision stays with
`muting.silenced` and `recurring.mutes`, so it is the same as over all the silences.
"""

from __future__ import annotations

from collections.abc import Iterable

from services.common.domain.labels.label_set import LabelSet
from services.common.domain.labels.matchers import Matcher, MatchType
from services.common.domain.silences.model import Silence
from services.common.domain.silences.recurring import RecurringSilence

AnySilence = Silence | RecurringSilence


class SilenceIndex:
    """A tenant's silences, fixed and recurring, filed by an equality matcher."""

    def __init__(self, silences: Iterable[AnySilence]) -> None:
        self.filed: dict[tuple[str, str], list[AnySilence]] = {}
        self.unfiled: list[AnySilence] = []
        for silence in silences:
            anchor = _anchor(silence.matchers)
            if anchor is None:
                self.unfiled.append(silence)
            else:
                self.filed.setdefault((anchor.name, anchor.value), []).append(silence)

    def candidates(self, labels: LabelSet) -> tuple[list[Silence], list[RecurringSilence]]:
        """The fixed and the recurring silences that may mute `labels` (a label with an empty value is none)."""
        found = list(self.unfiled)
        for name, value in labels.items():
            if value != "":
                found.extend(self.filed.get((name, value), ()))
        fixed = [s for s in found if isinstance(s, Silence)]
        recurring = [s for s in found if isinstance(s, RecurringSilence)]
        return fixed, recurring


def _anchor(matchers: Iterable[Matcher]) -> Matcher | None:
    """An `=` matcher with a value (one that only a label set holding that very label passes), or None."""
    return next((m for m in matchers if m.type is MatchType.EQUAL and m.value != ""), None)
