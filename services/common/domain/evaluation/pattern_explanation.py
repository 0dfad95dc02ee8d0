"""Why a pattern rule did what it did with simulated payloads: per key, where each partial match stands, and a
trace line per payload and partial match (patterns/simulate.py, the matcher the shards run with its trace on).

Sequence numbers of the matcher become the payloads' indices. A payload the rule's own `conditions` turn away never
reaches the steps, as in the shards: its trace line says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.common.domain.conditions.tree import truth
from services.common.domain.events.model import Event
from services.common.domain.patterns.simulate import simulate_pattern
from services.common.domain.patterns.spec import PatternTrigger
from services.common.domain.rules.model import Rule


def explain_pattern(rule: Rule, events: Sequence[tuple[int, Event]]) -> dict[str, Any]:
    """`{"matches", "partials", "trace", "counters"}` for the payloads (index, event) in input order."""
    trigger = rule.trigger_spec
    assert isinstance(trigger, PatternTrigger)
    passed: list[tuple[int, Event]] = []
    turned_away: list[dict[str, Any]] = []
    for index, event in events:
        if rule.conditions is None or truth(rule.conditions, event.payload) is True:
            passed.append((index, event))
        else:
            turned_away.append({"index": index, "outcome": "ignored", "reason": "the rule's conditions are not true"})
    found = simulate_pattern(trigger, [(e.kind, e.payload, e.time) for _, e in passed])
    indices = [index for index, _ in passed]
    trace = [_indexed(line, indices) for line in found["trace"]] + turned_away
    trace.sort(key=lambda line: (line.get("index", len(events)),))
    for match in found["matches"]:
        for step in match["chain"]:
            for taken in step["events"]:
                taken["index"] = indices[taken.pop("seq")]
    return {"matches": found["matches"], "partials": found["partials"], "trace": trace, "counters": found["counters"]}


def _indexed(line: dict[str, Any], indices: list[int]) -> dict[str, Any]:
    seq = line.pop("seq", None)
    return line if seq is None else {"index": indices[seq], **line}
