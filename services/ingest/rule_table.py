"""The router's view of every tenant's rules: versioned, in stream order, indexed for candidate lookup (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from services.common.domain.evaluation.rule_index import RuleIndex, ShapeMemo, receives_events
from services.common.domain.events.model import Event
from services.common.domain.lifecycle.episodes import CompiledRule, compile_rule
from services.common.domain.rules.model import Rule


@dataclass(frozen=True)
class Held:
    """The newest known version of a rule (`plan` None: deleted) and whether the stream has delivered it."""

    version: int
    plan: CompiledRule | None
    from_stream: bool


class RuleTable:
    """Rules by id with the RuleIndex of those receiving events (active ones, and anomaly rules, which learn while
    inactive); a change applies only if its version >= the held one.

    Start-up state comes from the rule bucket, which is usually ahead of the router's position in the stream:
    while the router replays the stream up to where it stood at start (`catch_up_to`), older versions (from the
    bucket's history and from replayed changes) stay indexed next to the newest, so an event ingested before a
    change still reaches the shards its rules lived on then. Routing a superset costs only work, never events.
    """

    def __init__(self) -> None:
        self.index = RuleIndex()
        self._held: dict[str, Held] = {}
        self._older: dict[str, list[CompiledRule]] = {}
        self._indexed: dict[str, list[CompiledRule]] = {}
        self._shapes: ShapeMemo[list[CompiledRule]] = ShapeMemo()  # candidate plans by shape, until the index changes
        self.catch_up_to = 0  # stream sequence until which older versions stay indexed

    def __len__(self) -> int:
        return sum(1 for held in self._held.values() if held.plan is not None)

    def held(self, rule_id: str) -> Held | None:
        return self._held.get(rule_id)

    def load(self, rule_id: str, history: Iterable[Rule | None]) -> None:
        """Take a rule from the bucket: its revisions oldest first, the last one current (None: deleted)."""
        revisions = list(history)
        if not revisions:
            return
        plans = [None if rule is None else compile_rule(rule) for rule in revisions]
        current = plans[-1]
        # A deletion is itself a version: the one after the deleted rule's last version.
        version = current.rule.version if current is not None else _last_version(plans) + 1
        self._held[rule_id] = Held(version, current, from_stream=False)
        self._older[rule_id] = [plan for plan in plans[:-1] if plan is not None]
        self._reindex(rule_id)

    def upsert(self, rule: Rule) -> bool:
        """Apply an upsert from the stream; return whether it became the held version."""
        return self._apply(rule.rule_id, rule.version, compile_rule(rule))

    def delete(self, rule_id: str, version: int) -> bool:
        """Apply a deletion from the stream; return whether it became the held version."""
        return self._apply(rule_id, version, None)

    def passed(self, sequence: int) -> None:
        """The router has handled the stream up to `sequence`: once caught up, only the newest versions count."""
        if self._older and sequence >= self.catch_up_to:
            stale = list(self._older)
            self._older.clear()
            for rule_id in stale:
                self._reindex(rule_id)

    def candidates(self, event: Event) -> set[str]:
        """The ids of the rules this event may match (any version indexed now)."""
        return self.index.candidates(event)

    def candidate_plans(self, event: Event) -> list[CompiledRule]:
        """Every indexed version of the rules this event may match: where the event goes is decided for each.

        The candidates depend only on the event's tenant, payload keys, `metric` and type (and, for a schedule
        run, the rule it names), so they are remembered by that shape until the index changes.
        """
        return self._shapes.get(event, self._plans_of)

    def _plans_of(self, event: Event) -> list[CompiledRule]:
        indexed = self._indexed
        return [plan for rule_id in sorted(self.index.candidates(event)) for plan in indexed.get(rule_id, ())]

    def _apply(self, rule_id: str, version: int, plan: CompiledRule | None) -> bool:
        held = self._held.get(rule_id)
        if held is None or version >= held.version:
            self._held[rule_id] = Held(version, plan, from_stream=True)
            self._older.pop(rule_id, None)
            self._reindex(rule_id)
            return True
        if not held.from_stream and plan is not None:  # replaying history the bucket has already moved past
            self._older.setdefault(rule_id, []).append(plan)
            self._reindex(rule_id)
        return False

    def _reindex(self, rule_id: str) -> None:
        # The index is keyed by rule id: remove every plan of the rule, then add back the ones that count now.
        self._shapes.clear()
        for plan in self._indexed.pop(rule_id, []):
            self.index.remove(plan)
        held = self._held.get(rule_id)
        plans = [*self._older.get(rule_id, []), *([held.plan] if held is not None and held.plan is not None else [])]
        active = [plan for plan in plans if receives_events(plan.rule)]  # inactive anomaly rules learn
        for plan in active:
            self.index.add(plan)
        if active:
            self._indexed[rule_id] = active


def _last_version(plans: list[CompiledRule | None]) -> int:
    versions = [plan.rule.version for plan in plans if plan is not None]
    return max(versions, default=0)
