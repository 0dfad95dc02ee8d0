"""Partial matches a pattern rule dropped at its cap per correlation key: how many, the latest key, the message.

The engine gathers them per rule (`RuleEngine.take_pattern_drops`); the evaluator reports them as dead letters of
source `pattern_dropped`, which the gateway counts on the rule's error state, as it does refused series.
"""

from __future__ import annotations

from dataclasses import dataclass

_KEY_SHOWN = 200  # characters of a key quoted in the message (keys are tenant data, any length)


@dataclass
class PatternDrops:
    """The partial matches of one rule dropped since they were last taken."""

    rule_id: str
    tenant: str
    cap: int
    count: int = 0
    last_key: str = ""

    def message(self) -> str:
        """What the rule's error says: the cap, what was dropped, what still works, and the setting."""
        shown = self.last_key if len(self.last_key) <= _KEY_SHOWN else self.last_key[:_KEY_SHOWN] + "..."
        partials = "partial match" if self.count == 1 else "partial matches"
        return (
            f"pattern cap of {self.cap} partial matches per key reached: {self.count} oldest {partials} dropped, "
            f"the latest for {shown!r}. Newer partial matches go on; a dropped one can no longer complete. The "
            "platform admin can raise the cap (CEP_PATTERN_MAX_PARTIALS, up to 100000), or make the pattern "
            "narrower (relaxed contiguity, a bounded `times`, conditions on the first step)."
        )
