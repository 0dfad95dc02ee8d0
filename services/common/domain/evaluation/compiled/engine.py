"""The shards' engine: the reference `RuleEngine` with metric rules on the fast path, one lookup per event shape.

Per event: the candidate rules come from a cache keyed by the event's shape (tenant, payload keys, metric name,
type), already sorted as the reference sorts them; each distinct `group_by` is turned into a group key once and
shared by every rule that groups by it; an active metric rule is judged by `FastThresholdSeries.judge_sample`, or,
once its series exists, by `take_quick` when the rule has no timers, conditions or hysteresis (`QuickRule`).
Every other rule (event, schedule, anomaly, inactive), and trigger, evaluate, snapshot and restore, run the
reference code on the same state, so transitions, failures, quotas and snapshots are the reference's.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from services.common.domain.anomaly.detectors.refit import RefitExecutor
from services.common.domain.evaluation.compiled.fast_thresholds import FastThresholdSeries, QuickRule, quick_rule
from services.common.domain.evaluation.rule_engine import RuleEngine
from services.common.domain.evaluation.rule_index import ShapeMemo
from services.common.domain.evaluation.sharding import SeriesOwner
from services.common.domain.events.alert_events import is_alert_event, stamp_depth
from services.common.domain.events.model import Event
from services.common.domain.lifecycle.episodes import CompiledRule, group_key_for
from services.common.domain.lifecycle.thresholds import ThresholdSeries
from services.common.domain.lifecycle.transitions import Transition
from services.common.domain.quotas.series_quota import Limits
from services.common.domain.rules.model import Rule
from services.common.domain.rules.rule_failures import failure_of
from services.common.domain.windows.measures import sample_of


class CompiledEngine(RuleEngine):
    """A `RuleEngine` whose `on_events` takes the compiled path; everything else is the reference's own code."""

    def __init__(
        self, executor: RefitExecutor | None = None, quotas: Limits | None = None, owns: SeriesOwner | None = None
    ) -> None:
        super().__init__(executor, quotas, owns)
        self._shapes: ShapeMemo[tuple[tuple[str, QuickRule | None], ...]] = ShapeMemo()

    def upsert_rule(self, rule: Rule, at: datetime | None = None) -> list[Transition]:
        self._shapes.clear()
        return super().upsert_rule(rule, at)

    def remove_rule(self, rule_id: str, at: datetime | None = None) -> list[Transition]:
        self._shapes.clear()
        return super().remove_rule(rule_id, at)

    def on_events(self, events: Sequence[Event]) -> list[Transition]:
        """`RuleEngine.on_events`, with the same transitions in the same order."""
        out: list[Transition] = []
        plans, held_series, snapshots, owns = self._plans, self._series, self._snapshots, self.owns
        for event in events:
            first = len(out)
            keys: dict[tuple[str, ...], str] = {}
            sampled: dict[str, tuple[Any, float | None]] = {}
            seconds = None
            for rule_id, quick in self._candidates(event):
                plan = plans[rule_id]
                try:
                    if quick is not None:
                        key = keys.get(plan.group_by)
                        if key is None:
                            key = keys[plan.group_by] = group_key_for(plan, event.payload)
                        by_key = held_series.get(rule_id)
                        held = None if by_key is None else by_key.get(key)
                        if type(held) is FastThresholdSeries and (owns is None or owns(plan.rule, key)):
                            sample = sampled.get(quick.path)
                            if sample is None:
                                sample = sampled[quick.path] = sample_of(quick.path, event)[:2]
                            self.evaluations += 1
                            snapshots.pop((rule_id, key), None)
                            if sample[1] is not None:
                                if seconds is None:
                                    seconds = event.time.timestamp()
                                out += held.take_quick(quick, key, event, sample[0], sample[1], seconds)
                            continue
                    if not plan.rule.active:
                        self._learn(plan, event)
                    elif plan.rule.trigger_type == "metric":
                        self._judge_into(out, plan, event, keys, sampled)
                    else:
                        self._observe_into(out, plan, event)
                except Exception as exc:
                    self.failures.append(failure_of(rule_id, plan.rule.tenant, event, exc))
                    out += self._repair(plan, event)
            if is_alert_event(event.kind) and len(out) > first:
                stamp_depth(out, first, event)
        return out

    def _candidates(self, event: Event) -> tuple[tuple[str, QuickRule | None], ...]:
        return self._shapes.get(event, self._steps)

    def _steps(self, event: Event) -> tuple[tuple[str, QuickRule | None], ...]:
        """The event's candidate rules in the reference's order, each with its `QuickRule` when it is active."""
        plans = self._plans
        return tuple(
            (rule_id, quick_rule(plans[rule_id]) if plans[rule_id].rule.active else None)
            for rule_id in sorted(self._index.candidates(event))
        )

    def _judge_into(
        self,
        out: list[Transition],
        plan: CompiledRule,
        event: Event,
        keys: dict[tuple[str, ...], str],
        sampled: dict[str, tuple[Any, float | None]],
    ) -> None:
        """`_observe_into` for an active metric rule: group key and sample shared, judged without explanations."""
        key = keys.get(plan.group_by)
        if key is None:
            key = keys[plan.group_by] = group_key_for(plan, event.payload)
        if self.owns is not None and not self.owns(plan.rule, key):
            return  # another shard's series (sharding.py)
        path = plan.rule.trigger_spec.metric_name  # type: ignore[union-attr]  # a metric rule's
        sample = sampled.get(path)
        if sample is None:
            sample = sampled[path] = sample_of(path, event)[:2]
        by_key = self._series.get(plan.rule_id)
        held = None if by_key is None else by_key.get(key)
        if held is None:
            series = FastThresholdSeries(plan)
        elif isinstance(held, FastThresholdSeries):
            series = held
        else:
            assert isinstance(held, ThresholdSeries)
            series = FastThresholdSeries.adopt(plan, held)
        if series.newest is not None or series.episode is not None:
            out += series.advance(plan, key, event.time)
        out += self._judged(plan, key, held, series, lambda: series.judge_sample(plan, key, event, sample))
