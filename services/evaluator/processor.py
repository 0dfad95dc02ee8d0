"""A shard's evaluation state: the domain engine plus what the shell needs around it (pure, no I/O).

The actor feeds it work items in stream order and publishes what comes out: alert transitions with the
actions of the rule that produced them, and the replies to triggers. Anomaly model refits run on a refit
pool (refit_pool.py: the process's own unless one is given), off the hot path, with the same scores.
Shards run the compiled engine (domain/evaluation/compiled/: the reference's transitions, faster); `ENGINE` is the
switch, the reference `RuleEngine` being the other choice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from services.common.domain.evaluation.compiled.engine import CompiledEngine
from services.common.domain.evaluation.rule_engine import RuleEngine, SeriesElsewhere
from services.common.domain.evaluation.series_capture import SeriesCapture
from services.common.domain.evaluation.sharding import SeriesOwner
from services.common.domain.lifecycle.transitions import Transition
from services.common.domain.patterns.drops import PatternDrops
from services.common.domain.quotas.series_quota import Limits, SeriesRefusals
from services.common.domain.rules.model import Rule
from services.common.domain.rules.rule_failures import RuleFailure
from services.common.messages.alerts import action_dict
from services.common.messages.work import trigger_reply
from services.evaluator.refit_pool import RefitFigures, RefitPool
from services.evaluator.work import EventWork, RuleWork, TickWork, TriggerWork, Work

Actions = list[dict[str, Any]]
ENGINE: type[RuleEngine] = CompiledEngine  # the engine a shard builds, fresh or restored


@dataclass
class Output:
    """What a batch produced: alerts (transition, actions), trigger replies (subject, body), rule failures."""

    alerts: list[tuple[Transition, Actions]] = field(default_factory=list)
    replies: list[tuple[str, bytes]] = field(default_factory=list)
    events: int = 0
    failures: list[RuleFailure] = field(default_factory=list)  # rules that raised on an event (the others ran)
    refusals: list[SeriesRefusals] = field(default_factory=list)  # new series refused by a quota, per rule
    pattern_drops: list[PatternDrops] = field(default_factory=list)  # partial matches dropped at the cap, per rule


class ShardState:
    """The rules a shard holds and their series; `run` applies one step (see `work.steps`) to it."""

    def __init__(self, engine: RuleEngine) -> None:
        self.engine = engine
        self.pool = engine.executor if isinstance(engine.executor, RefitPool) else None
        self._rules: dict[str, Rule] = {rule.rule_id: rule for rule in engine.rules()}
        self._actions: dict[str, Actions] = {rule_id: _actions(rule) for rule_id, rule in self._rules.items()}
        self.clock: datetime | None = None  # the latest tick applied (the gateway's catch-up horizon reads it)
        self._rules_changed: set[str] = set()  # rules added, replaced or removed since the last capture

    @classmethod
    def from_rules(
        cls,
        rules: Iterable[Rule],
        pool: RefitPool | None = None,
        quotas: Limits | None = None,
        owns: SeriesOwner | None = None,
        pattern_cap: int | None = None,
        pattern_lateness: timedelta | None = None,
    ) -> ShardState:
        """A fresh state holding `rules` (what the rule bucket says when there is no snapshot), within `quotas`,
        keeping the series `owns` says are this shard's (all when None); `pattern_cap`: partial matches per key;
        `pattern_lateness`: how late a pattern rule's event may be in its key."""
        engine = ENGINE(pool or RefitPool.for_process(), quotas, owns)
        if pattern_cap is not None:
            engine.pattern_cap = pattern_cap
        if pattern_lateness is not None:
            engine.pattern_lateness = pattern_lateness
        for rule in rules:
            engine.upsert_rule(rule)
        return cls(engine)

    @classmethod
    def restore(
        cls,
        engine: dict[str, Any],
        rules: Iterable[Rule],
        pool: RefitPool | None = None,
        quotas: Limits | None = None,
        owns: SeriesOwner | None = None,
        pattern_cap: int | None = None,
        pattern_lateness: timedelta | None = None,
    ) -> ShardState:
        """The state of a snapshot: the rules as they were then, and the engine's series (refits on `pool`)."""
        pool = pool or RefitPool.for_process()
        return cls(ENGINE.restore(engine, rules, pool, quotas, owns, pattern_cap, pattern_lateness))

    @property
    def rule_count(self) -> int:
        return len(self._rules)

    def refit_figures(self) -> dict[str, Any]:
        """What the refit pool has spent so far (refits, seconds fitting, waits on the hot path), for the status."""
        return (self.pool.figures() if self.pool is not None else RefitFigures()).as_dict()

    def snapshot(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The canonical JSON of the rules held, and the engine's snapshot: what `restore` takes back."""
        self._rules_changed.clear()
        return [self._rules[rule_id].canonical() for rule_id in sorted(self._rules)], self.engine.snapshot()

    def changes(self) -> tuple[dict[str, dict[str, Any] | None], dict[str, Any]]:
        """What changed since the last `snapshot` or `changes`, in O(changed): the canonical JSON of each rule added
        or replaced (None: removed), and the engine's `changes()`. What an incremental snapshot holds."""
        rules = {rule_id: self._canonical(rule_id) for rule_id in sorted(self._rules_changed)}
        self._rules_changed.clear()
        return rules, self.engine.changes()

    def capture(self) -> tuple[list[dict[str, Any]], SeriesCapture]:
        """`snapshot()` as of now, its series encoded at `finish()` (off the lock: snapshot_capture.py)."""
        self._rules_changed.clear()
        return [self._rules[rule_id].canonical() for rule_id in sorted(self._rules)], self.engine.capture_snapshot()

    def capture_changes(self) -> tuple[dict[str, dict[str, Any] | None], SeriesCapture]:
        """`changes()` as of now, its series encoded at `finish()` (off the lock: snapshot_capture.py)."""
        rules = {rule_id: self._canonical(rule_id) for rule_id in sorted(self._rules_changed)}
        self._rules_changed.clear()
        return rules, self.engine.capture_changes()

    def forget_changes(self) -> object:
        """The changes since the last capture were captured by a forked child (snapshot_fork.py): O(1); what is let
        go of is returned, to drop once the child is done (`RuleEngine.forget_changes`)."""
        let_go = (self._rules_changed, self.engine.forget_changes())
        self._rules_changed = set()
        return let_go

    def pending_changes(self) -> int:
        """How many series the next `changes()` would carry."""
        return self.engine.pending_changes()

    def remember(self, capture: SeriesCapture) -> None:
        """Keep what a finished capture encoded, for the next snapshots (`RuleEngine.remember`)."""
        self.engine.remember(capture)

    def series_count(self) -> int:
        return self.engine.series_count()

    def _canonical(self, rule_id: str) -> dict[str, Any] | None:
        rule = self._rules.get(rule_id)
        return None if rule is None else rule.canonical()

    def run(self, step: Sequence[Work], out: Output) -> None:
        """Apply one step: a run of events in one engine call, or one rule change, tick or trigger."""
        first = step[0]
        if isinstance(first, EventWork):
            events = [item.event for item in step if isinstance(item, EventWork)]
            self._emit(self.engine.on_events(events), out)
            out.failures += self.engine.take_failures()
            out.events += len(events)
        elif isinstance(first, RuleWork):
            self._rule(first, out)
        elif isinstance(first, TickWork):
            self._emit(self.engine.on_tick(first.now), out)
            self.clock = first.now if self.clock is None else max(self.clock, first.now)
        elif isinstance(first, TriggerWork):
            self._trigger(first, out)
        out.refusals += self.engine.take_refusals()
        out.pattern_drops += self.engine.take_pattern_drops()

    def failed(self, item: Work, error: str, out: Output) -> None:
        """A step that raised: a trigger still gets an answer, so its caller does not wait in vain."""
        if isinstance(item, TriggerWork):
            body = trigger_reply(False, None, "no_match", [], [], error=("failed", error))
            out.replies.append((item.reply, body))

    def _rule(self, work: RuleWork, out: Output) -> None:
        change, held = work.change, self._rules.get(work.change.rule_id)
        if change.op == "delete":
            self._rules_changed.add(change.rule_id)
            actions = self._actions.pop(change.rule_id, [])
            self._rules.pop(change.rule_id, None)
            self._emit(self.engine.remove_rule(change.rule_id, at=change.at), out, actions)
            return
        if work.rule is None or (held is not None and held.version > change.version):
            return  # an older change replayed after the bucket gave us a newer version
        self._rules[change.rule_id] = work.rule
        self._rules_changed.add(change.rule_id)
        self._actions[change.rule_id] = _actions(work.rule)
        self._emit(self.engine.upsert_rule(work.rule, at=change.at), out)

    def _trigger(self, work: TriggerWork, out: Output) -> None:
        rule = self._rules.get(work.rule_id)
        if rule is None or rule.tenant != work.event.tenant:
            detail = f"rule {work.rule_id} is not held by this shard"
            body = trigger_reply(False, None, "no_match", [], [], error=("unknown_rule", detail))
            out.replies.append((work.reply, body))
            return
        try:
            outcome = self.engine.trigger(work.rule_id, work.event)
        except SeriesElsewhere as exc:  # routed with another version of the rule (a rule change raced it)
            out.replies.append((work.reply, trigger_reply(False, None, "no_match", [], [], error=("failed", str(exc)))))
            return
        self._emit(outcome.transitions, out)
        body = trigger_reply(outcome.matched, outcome.event_id, outcome.state, outcome.explanation, outcome.errors)
        out.replies.append((work.reply, body))

    def _emit(self, transitions: list[Transition], out: Output, actions: Actions | None = None) -> None:
        for transition in transitions:
            out.alerts.append(
                (transition, actions if actions is not None else self._actions.get(transition.rule_id, []))
            )


def _actions(rule: Rule) -> Actions:
    """The rule's action_spec as the alert carries it (what the notifier acts on)."""
    return [action_dict(action) for action in rule.action_spec]
