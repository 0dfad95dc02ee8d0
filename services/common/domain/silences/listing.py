"""Which silences a `filter` selects and in what order they are listed, as Alertmanager's `GET /silences` does.

A filter matcher tests the value a silence's own matchers give its label name (read as a label set: the last
matcher of a name wins). Two cases are lenient, as in Alertmanager: a positive filter with an empty value passes
a silence without that name, and a negative one with an empty value passes a silence that has it. Listing puts
active silences first (soonest end first), then pending ones (soonest start first), then expired ones (latest
end first).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from services.common.domain.labels.matchers import Matcher
from services.common.domain.silences.model import Silence, SilenceState, state_at


def matches_filter(silence: Silence, filters: Sequence[Matcher]) -> bool:
    """Whether the silence passes every filter matcher."""
    values = {matcher.name: matcher.value for matcher in silence.matchers}
    for matcher in filters:
        present = matcher.name in values
        if matcher.value == "" and present != matcher.type.is_equal:
            continue
        if not matcher.matches(values.get(matcher.name, "")):
            return False
    return True


def in_listing_order(silences: Iterable[Silence], now: datetime) -> list[Silence]:
    """Active (by end), then pending (by start), then expired (latest end first); ties by id."""

    def key(silence: Silence) -> tuple[int, float, str]:
        state = state_at(silence, now)
        if state is SilenceState.ACTIVE:
            return (0, silence.ends_at.timestamp(), silence.id)
        if state is SilenceState.PENDING:
            return (1, silence.starts_at.timestamp(), silence.id)
        return (2, -silence.ends_at.timestamp(), silence.id)

    return sorted(silences, key=key)
