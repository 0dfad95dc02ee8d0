"""Simulate a pattern over given payloads: the matches, each with its chain, and why every input did what it did.

The same matcher the shards will run, with its trace on; nothing is sent. Each item is an event type, a payload
and its event time; `until` advances time past the last item (to see trailing negations fire).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from services.common.domain.patterns.matcher import PatternMatcher
from services.common.domain.patterns.spec import PatternTrigger


def simulate_pattern(
    trigger: PatternTrigger,
    items: Iterable[tuple[str | None, Mapping[str, Any], datetime]],
    until: datetime | None = None,
) -> dict[str, Any]:
    """`{"matches": [...], "partials": {key: [...]}, "trace": [...], "counters": {...}}` for the items."""
    matcher = PatternMatcher(trigger, explain=True)
    matches = []
    for event_type, payload, time in items:
        matches.extend(matcher.on_event(event_type, payload, time))
    if until is not None:
        matches.extend(matcher.advance(until))
    return {
        "matches": [
            {"group_key": m.key, "at": m.at.isoformat(), "payload": m.payload(), "chain": m.explain()} for m in matches
        ],
        "partials": matcher.partials(),
        "trace": [] if matcher.trace is None else matcher.trace.as_list(),
        "counters": dict(matcher.counters),
    }
