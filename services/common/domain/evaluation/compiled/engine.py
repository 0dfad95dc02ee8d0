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
from services.common.domain.evaluation.compiled.lane_step import step_lane
from services.common.domain.evaluation.compiled.quick_lanes import Lane, QuickGroup, groups_of
from services.common.domain.evaluation.rule_engine import RuleEngine
from services.common.domain.evaluation.rule_index import ShapeMemo
from services.common.domain.evaluation.series_capture import SeriesCapture
from services.common.domain.evaluation.sharding import SeriesOwner
from services.common.domain.events.alert_events import is_alert_event, stamp_depth
from services.common.domain.events.model import Event
from services.common.domain.lifecycle.episodes import CompiledRule, Series, group_key_for
from services.common.domain.lifecycle.thresholds import ThresholdSeries
from services.common.domain.lifecycle.transitions import Transition
from services.common.domain.quotas.series_quota import Limits, refusal
from services.common.domain.rules.model import Rule
from services.common.domain.rules.rule_failures import failure_of
from services.common.domain.windows.measures import sample_of

Step = tuple[str, QuickRule | None] | QuickGroup  # a candidate rule, or a run of quick rules judged together
Shared = tuple[dict[tuple[str, ...], str], dict[str, tuple[Any, float | None]]]  # group keys, samples of one event


class CompiledEngine(RuleEngine):
    """A `RuleEngine` whose `on_events` takes the compiled path; everything else is the reference's own code."""

    def __init__(
        self, executor: RefitExecutor | None = None, quotas: Limits | None = None, owns: SeriesOwner | None = None
    ) -> None:
        super().__init__(executor, quotas, owns)
        self._shapes: ShapeMemo[tuple[Step, ...]] = ShapeMemo()
        self._epoch = 0  # moves whenever a series is stored, replaced or dropped: lanes older than it are stale
        self._touched: set[Lane] = set()  # lanes judged since the last snapshot: their cached snapshots are stale

    def upsert_rule(self, rule: Rule, at: datetime | None = None) -> list[Transition]:
        self._shapes.clear()
        return super().upsert_rule(rule, at)

    def remove_rule(self, rule_id: str, at: datetime | None = None) -> list[Transition]:
        self._shapes.clear()
        return super().remove_rule(rule_id, at)

    def capture_snapshot(self) -> SeriesCapture:
        """`RuleEngine.capture_snapshot`; the series quick groups judged are encoded afresh."""
        self._mark_touched()
        return super().capture_snapshot()

    def capture_changes(self) -> SeriesCapture:
        """`RuleEngine.capture_changes`; the series quick groups judged (in place, without `_keep`) count as changed."""
        self._mark_touched()
        return super().capture_changes()

    def pending_changes(self) -> int:
        self._mark_touched()
        return super().pending_changes()

    def forget_changes(self) -> object:
        let_go = (self._touched, super().forget_changes())  # the lanes judged went with the child's copy
        self._touched = set()
        return let_go

    def remember(self, capture: SeriesCapture) -> None:
        self._mark_touched()  # a series a lane judged since the capture is changed: its encoding is not cached
        super().remember(capture)

    def _capture_series(
        self, capture: SeriesCapture, place: dict[str, Any], rule_id: str, key: str, series: Series
    ) -> dict[str, Any] | None:
        """A threshold series is frozen (copied in O(its window)) and encoded at `finish()`, off the caller's lock:
        its explanation and times are most of a snapshot's cost."""
        frozen = series.frozen() if type(series) is FastThresholdSeries else None
        if frozen is None:
            return series.snapshot()
        capture.add(place, rule_id, key, frozen)
        return None

    def _mark_touched(self) -> None:
        for lane in self._touched:
            for rule_id in lane.rule_ids:
                self._changed(rule_id, lane.key)
        self._touched.clear()

    def on_events(self, events: Sequence[Event]) -> list[Transition]:
        """`RuleEngine.on_events`, with the same transitions in the same order."""
        out: list[Transition] = []
        plans = self._plans
        shapes = self._shapes
        steps = self._steps
        for event in events:
            first = len(out)
            shared: Shared | None = None  # the group keys and samples rules on the general path share, made once used
            for step in shapes.get(event, steps):
                if type(step) is QuickGroup:
                    self._run_group(out, step, event)
                    continue
                if shared is None:
                    shared = ({}, {})
                rule_id = step[0]  # type: ignore[index]  # a (rule id, None) step
                self._run_rule(out, plans[rule_id], event, *shared)
            if len(out) > first and is_alert_event(event.kind):
                stamp_depth(out, first, event)
        return out

    def _run_rule(
        self,
        out: list[Transition],
        plan: CompiledRule,
        event: Event,
        keys: dict[tuple[str, ...], str],
        sampled: dict[str, tuple[Any, float | None]],
    ) -> None:
        """One candidate rule on the general path, a raise isolated as the reference isolates it."""
        try:
            if not plan.rule.active:
                self._learn(plan, event)
            elif plan.rule.trigger_type == "metric":
                self._judge_into(out, plan, event, keys, sampled)
            else:
                self._observe_into(out, plan, event)
        except Exception as exc:
            self.failures.append(failure_of(plan.rule_id, plan.rule.tenant, event, exc))
            out += self._repair(plan, event)

    def _run_group(self, out: list[Transition], group: QuickGroup, event: Event) -> None:
        """Every rule of a quick group on the event: one key, one sample, the lane's series judged in order."""
        try:
            key = group.key_of(event.payload)
            raw, number = group.sample_of(event)
        except Exception:  # each rule meets the raise on its own, as in the reference
            for quick in group.rules:
                self._run_rule(out, quick.plan, event, {}, {})
            return
        lane = group.lanes.get(key)
        if lane is None or lane.epoch != self._epoch:
            if lane is not None:  # the new lane holds every series of the old one still held: it stands for both
                self._touched.discard(lane)
            lane = group.lanes[key] = self._lane(group, key)
        self._touched.add(lane)
        self.evaluations += lane.evaluations
        step_lane(self, lane, event, raw, number, event.time.timestamp(), out)

    def lane_general(
        self, out: list[Transition], quick: QuickRule, lane: Lane, event: Event, raw: Any, number: float | None
    ) -> None:
        """A rule of the lane without a usable series: its first sample starts one (the lane holds it from then on),
        else the general path."""
        key = lane.key
        if self._series.get(quick.plan.rule_id, {}).get(key) is None and quick.plan.rule.active:
            started = self._start(out, quick, key, event, raw, number, event.time.timestamp())
            if started is not None:
                lane.hold(quick, started)
        else:
            lane.epoch = -1  # this rule's series may exist after this event: look it up again next time
            self._run_rule(out, quick.plan, event, {}, {})

    def lane_failed(self, out: list[Transition], quick: QuickRule, event: Event, exc: Exception) -> None:
        """A lane rule that raised: recorded and repaired, as `_run_rule` does."""
        plan = quick.plan
        self.failures.append(failure_of(plan.rule_id, plan.rule.tenant, event, exc))
        out += self._repair(plan, event)

    def _start(
        self,
        out: list[Transition],
        quick: QuickRule,
        key: str,
        event: Event,
        raw: Any,
        number: float | None,
        seconds: float,
    ) -> FastThresholdSeries | None:
        """A quick rule's first sample under `key`: its series is judged, then kept unless a quota refuses it.

        The series when it is kept as a `FastThresholdSeries` and nothing else changed (else None)."""
        plan = quick.plan
        self.evaluations += 1
        if number is None:
            return None  # not taken: the new series holds nothing and is not kept
        series = FastThresholdSeries.fresh(plan)
        try:
            moved = series.take_quick(quick, key, event, raw, number, seconds)
        except Exception as exc:
            self.failures.append(failure_of(plan.rule_id, plan.rule.tenant, event, exc))
            if self._refused(plan, key, series) is None:
                self._keep(plan, key, series)
            out += self._repair(plan, event)
            return None
        if not self._admit(plan, key, series):
            return None
        if moved:
            out += moved
        return series

    def _admit(self, plan: CompiledRule, key: str, series: FastThresholdSeries) -> bool:
        """`_refused` then `_keep` for a new quick series that took its sample (it holds state, arms no timer)."""
        rule = plan.rule
        rule_id, tenant = rule.rule_id, rule.tenant
        by_key = self._series.get(rule_id)
        ledger = self.ledger
        why = refusal(0 if by_key is None else len(by_key), ledger.held.get(tenant, 0), self.quotas.of(tenant))
        if why is not None:
            ledger.refuse(rule_id, tenant, key, why)
            return False
        self._changed(rule_id, key)
        if by_key is None:
            by_key = self._series[rule_id] = {}
        by_key[key] = series
        ledger.held[tenant] = ledger.held.get(tenant, 0) + 1
        return True

    def _lane(self, group: QuickGroup, key: str) -> Lane:
        """The group's series under `key` as stored now: only those this engine owns; None where none is usable."""
        entries: list[tuple[QuickRule, FastThresholdSeries | None]] = []
        owns, held_series = self.owns, self._series
        for quick in group.rules:
            rule = quick.plan.rule
            if owns is not None and not owns(rule, key):
                continue  # another shard's series (sharding.py)
            held = held_series.get(rule.rule_id, {}).get(key)
            entries.append((quick, held if type(held) is FastThresholdSeries else None))
        used = tuple(quick.plan.rule_id for quick, series in entries if series is not None)
        return Lane(key, self._epoch, entries, len(used), used)

    def _keep(self, plan: CompiledRule, key: str, series: Series) -> None:
        held = self._series.get(plan.rule_id, {}).get(key)
        if series.idle or (held is not None and held is not series):  # a lane may hold the series it replaces
            self._epoch += 1
        super()._keep(plan, key, series)

    def _close(
        self, plan: CompiledRule, at: datetime | None, reason: str, keep_baselines: bool = False
    ) -> list[Transition]:
        self._epoch += 1
        return super()._close(plan, at, reason, keep_baselines)

    def _repair(self, plan: CompiledRule, event: Event) -> list[Transition]:
        self._epoch += 1
        return super()._repair(plan, event)

    def _steps(self, event: Event) -> tuple[Step, ...]:
        """The event's candidate rules in the reference's order, runs of quick rules grouped (quick_lanes.py)."""
        plans = self._plans
        return groups_of(
            [
                (rule_id, quick_rule(plans[rule_id]) if plans[rule_id].rule.active else None)
                for rule_id in sorted(self._index.candidates(event))
            ]
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
