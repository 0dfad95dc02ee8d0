"""How one rule judged one event, as simulate, trigger and the evaluator's answers show it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Self

from services.common.domain.lifecycle.episodes import Observation, State
from services.common.domain.lifecycle.transitions import Transition


@dataclass(frozen=True)
class Evaluation:
    """How one rule judged one event: verdict, lifecycle state, the event opened or joined, and why."""

    matched: bool
    state: State
    event_id: str | None
    group_key: str
    value: Any
    explanation: list[dict[str, Any]]
    errors: list[str]
    reason: str
    transitions: list[Transition] = field(default_factory=list)

    @classmethod
    def of(cls, key: str, observation: Observation) -> Self:
        """The evaluation of a series' observation under group key `key` (of this class or a subclass)."""
        return cls(
            matched=observation.matched,
            state=observation.state,
            event_id=observation.event_id,
            group_key=key,
            value=observation.value,
            explanation=observation.explanation,
            errors=observation.errors,
            reason=observation.reason,
            transitions=observation.transitions,
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready; transitions as their own `as_dict()`."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["transitions"] = [t.as_dict() for t in self.transitions]
        return out


class TriggerOutcome(Evaluation):
    """The outcome of evaluating one rule for real (`RuleEngine.trigger`): its transitions are to be published."""
