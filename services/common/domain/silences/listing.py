"""Which silences a `filter` selects and in what order they are listed, as Alertmanager's `GET /silences` does.

A filter does not match label values: a silence passes a filter matcher when it has that very matcher (same
name, operator and value), so `team=~"d.*"` finds the silences written with `team=~"d.*"`, not one of `team="db"`
(checked against Alertmanager 0.25). Listing puts active silences first (soonest end first), then pending ones
(soonest start first), then expired ones (latest end first).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from services.common.domain.labels.matchers import Matcher
from services.common.domain.silences.model import Silence, SilenceState, state_at


def matches_filter(silence: Silence, filters: Sequence[Matcher]) -> bool:
    """Whether the silence has each of the filter matchers among its own."""
    return all(matcher in silence.matchers for matcher in filters)


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
