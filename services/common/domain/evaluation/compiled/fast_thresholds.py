"""Metric series judged without explanations: the reference lifecycle, with a sample's explanation built lazily.

`FastThresholdSeries` is a `ThresholdSeries` (same phases, timers, window and snapshot) with two more ways in:
`judge_sample`, where the verdict comes from `compare` and `conditions.tree.truth` instead of explanation trees, and
`take_quick` for the rules `QuickRule` accepts (no timers, conditions or hysteresis; raw, avg, sum or count), which
does only what such a sample can change. The sample is kept as a `Sample` (or a `QuickSample` tuple, whose windowed
value is read from the window when needed) until something reads its explanation (a transition, a snapshot, the
reference `observe`). A series firing on many true samples thus builds one explanation per transition, not one per
sample.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.common.domain.conditions.tree import Explanation, combine, compare, literal, truth
from services.common.domain.evaluation.compiled.running_window import TESTS, RunningWindow
from services.common.domain.events.model import Event
from services.common.domain.lifecycle.episodes import CompiledRule, Episode, judge
from services.common.domain.lifecycle.thresholds import _MIN_WINDOW, ThresholdSeries
from services.common.domain.lifecycle.transitions import Transition
from services.common.domain.rules.triggers import MetricTrigger
from services.common.domain.windows.measures import PATH, Measure, sample_of

_RATE_UNDEFINED = "rate needs two samples at different times"
_QUICK_AGGREGATIONS = (None, "avg", "sum", "count")
LAZY = object()  # a `QuickSample`'s value that the window holds: its aggregate, read when the sample is explained
# (event, value, result, problem) of a sample `take_quick` took: built into a `Sample` only when explained
QuickSample = tuple[Event, Any, bool | None, str | None]


@dataclass(frozen=True, slots=True)
class QuickRule:
    """What `take_quick` needs of a rule: its metric path, aggregation, comparison and threshold."""

    plan: CompiledRule
    path: str
    aggregation: str | None
    operator: str
    test: Callable[[Any, Any], bool]
    threshold: float


def quick_rule(plan: CompiledRule) -> QuickRule | None:
    """The rule as `take_quick` judges it, or None when it needs the full lifecycle (timers, conditions, hysteresis,
    min/max/p95/rate, an anomaly trigger, a threshold that is not a float)."""
    trigger = plan.rule.trigger_spec
    if not isinstance(trigger, MetricTrigger) or plan.rule.conditions is not None:
        return None
    if plan.duration or plan.resolve_after is not None or plan.no_data_after is not None:
        return None
    if trigger.recover_threshold is not None or trigger.aggregation not in _QUICK_AGGREGATIONS:
        return None
    test = TESTS.get(trigger.operator)
    threshold = trigger.threshold
    if test is None or type(threshold) not in (int, float) or float(threshold) != threshold:
        return None
    return QuickRule(plan, trigger.metric_name, trigger.aggregation, trigger.operator, test, float(threshold))


@dataclass(frozen=True, slots=True)
class Sample:
    """A taken sample as the trigger judged it: enough to build its explanation later, exactly as `judge` would."""

    event: Event
    value: Any
    result: bool | None
    problem: str | None
    recovering: bool  # judged against recover_threshold (the series was firing)

    def explanation(self, plan: CompiledRule) -> list[dict[str, Any]]:
        node = Explanation(_expr(plan, self.recovering), self.result, self.value, self.problem, path=PATH)
        return judge(plan, node, self.event.payload).explanation


class FastThresholdSeries(ThresholdSeries):
    """A metric rule's series; `judge_sample` is `observe` for the hot path (transitions only, same state)."""

    def __init__(self, plan: CompiledRule) -> None:
        super().__init__(plan)
        self._plan = plan
        self._sample: Sample | QuickSample | None = None  # `latest` not yet built from it
        self._episode_sample: Sample | QuickSample | None = None  # the open episode shows it, not yet copied in
        if self.window is not None and _runs(plan):
            self.window = RunningWindow(self.window.length)

    @classmethod
    def fresh(cls, plan: CompiledRule) -> FastThresholdSeries:
        """`cls(plan)` for a `QuickRule`'s plan, built without the general constructor's dispatch."""
        series = cls.__new__(cls)
        series.__dict__ = _FRESH.copy()
        series.latest = {}
        series._plan = plan
        if plan.window is not None:
            series.window = RunningWindow(max(plan.window, _MIN_WINDOW))
        return series

    @classmethod
    def adopt(cls, plan: CompiledRule, series: ThresholdSeries) -> FastThresholdSeries:
        """This class around the state of a reference series (one restored, or created by `trigger`)."""
        fast = cls.__new__(cls)
        fast.__dict__.update(series.__dict__)
        fast._plan, fast._sample, fast._episode_sample = plan, None, None
        if fast.window is not None and not isinstance(fast.window, RunningWindow) and _runs(plan):
            fast.window = RunningWindow.of(fast.window)
        return fast

    def take_quick(
        self, quick: QuickRule, key: str, event: Event, raw: Any, number: float, at_seconds: float
    ) -> list[Transition] | None:
        """`judge_sample` for a `QuickRule` with a number sampled, once `advance` has run (it has no timers).

        None when nothing moved (most samples): no list is built for them.
        """
        at = event.time
        newest = self.newest
        window: RunningWindow | None = self.window  # type: ignore[assignment]  # a quick rule's window
        if window is None:
            if newest is not None and at < newest:
                return None  # older than the newest raw value: refused
            value: Any = raw
            if type(raw) is float or type(raw) is int:
                result: bool | None = quick.test(raw, quick.threshold)
                problem = None
            else:
                result, problem = compare(quick.operator, raw, quick.threshold)
        else:
            result = window.take(at_seconds, number, quick.aggregation, quick.test, quick.threshold)  # type: ignore[arg-type]
            if result is None:
                return None  # more than one window length late: refused
            if newest is not None and newest > at:
                at = newest
            value, problem = LAZY, None
        self.newest = at if newest is None or at > newest else newest
        return self.settle(quick, key, at, (event, value, result, problem))

    def settle(self, quick: QuickRule, key: str, at: datetime, sample: QuickSample) -> list[Transition] | None:
        """The tail of `take_quick` once the sample is judged (`sample[2]`) and `newest` moved: the sample is
        remembered and the lifecycle moves. Lane steps (lane_step.py) call it when a sample may move the series."""
        result = sample[2]
        self._sample = sample
        episode = self.episode
        if episode is None:
            if self.phase != "inactive":
                return self._moved(quick.plan, key, at, result)
            return self._fire(quick.plan, key, at, "threshold crossed") if result is True else None
        if episode.no_data or self.phase != "firing":
            return self._moved(quick.plan, key, at, result)
        if result is True:  # firing: the episode counts the sample and shows it
            episode.count += 1
            if at > episode.last_seen:
                episode.last_seen = at
            self._episode_sample = sample
            return None
        if result is False:
            return self._on_false(quick.plan, key, at, result)
        return None

    def _moved(self, plan: CompiledRule, key: str, at: datetime, verdict: bool | None) -> list[Transition]:
        """The tail of `judge_sample` once the sample is remembered: the lifecycle's moves, in full."""
        transitions: list[Transition] = []
        if self.episode is not None and self.episode.no_data:
            transitions += self._resolve(plan, key, at, "data received")
        if verdict is True:
            transitions += self._on_true(plan, key, at)
        else:
            transitions += self._on_false(plan, key, at, verdict)
        return transitions

    def judge_sample(
        self, plan: CompiledRule, key: str, event: Event, sampled: tuple[Any, float | None] | None = None
    ) -> list[Transition]:
        """What `observe(...).transitions` would be, once `advance` to the event's time has run.

        `sampled` is `sample_of(metric_name, event)[:2]` when the caller already looked it up for another rule.
        """
        trigger = plan.rule.trigger_spec
        assert isinstance(trigger, MetricTrigger)
        self._plan = plan
        recovering = self.phase == "firing" and trigger.recover_threshold is not None
        threshold = trigger.recover_threshold if recovering else trigger.threshold
        raw, number = sampled if sampled is not None else sample_of(trigger.metric_name, event)[:2]
        if number is None:
            return []  # not taken: the series does not move
        at = event.time
        if self.window is None:
            if self.newest is not None and at < self.newest:
                return []  # older than the newest raw value: refused
            value: Any = raw
            result, problem = compare(trigger.operator, raw, threshold)
        else:
            if not self.window.add(at.timestamp(), number).accepted:
                return []
            if self.newest is not None and self.newest > at:
                at = self.newest
            value = self.window.aggregate(trigger.aggregation or "avg")
            if value is None:
                result, problem = None, _RATE_UNDEFINED
            else:
                result, problem = compare(trigger.operator, value, threshold)
        verdict = result
        conditions = plan.rule.conditions
        if conditions is not None and result is not False:
            verdict = combine("AND", [result, truth(conditions, event.payload)])
        self.newest = at if self.newest is None or at > self.newest else self.newest
        self._sample = Sample(event, value, result, problem, recovering)
        self.latest = {}  # stale until `_materialise`
        return self._moved(plan, key, at, verdict)

    def _explained(self, sample: Sample | QuickSample) -> Sample:
        """The sample as `Sample`: a `QuickSample`'s windowed value read from the window (it is the newest sample)."""
        if isinstance(sample, Sample):
            return sample
        event, value, result, problem = sample
        if value is LAZY:
            trigger = self._plan.rule.trigger_spec
            assert isinstance(trigger, MetricTrigger) and self.window is not None
            value = self.window.aggregate(trigger.aggregation or "avg")
            result, problem = compare(trigger.operator, value, trigger.threshold)
        return Sample(event, value, result, problem, False)

    def _materialise(self) -> None:
        """Build `latest` from the deferred sample, and copy it into the episode that shows it."""
        quick = self._sample
        sample = None if quick is None else self._explained(quick)
        if sample is not None:
            self._sample = None
            explanation = sample.explanation(self._plan)
            self.latest = {
                "payload": sample.event.payload,
                "value": sample.value,
                "explanation": explanation,
                "source_event_id": sample.event.event_id,
            }
        shown = self._episode_sample
        if shown is not None and self.episode is not None:
            self._episode_sample = None
            if shown is not quick:  # an older sample: build its own explanation
                older = self._explained(shown)
                _copy_into(self.episode, older, older.explanation(self._plan))
            else:
                super()._refresh(self.episode)

    def _measure(self, plan: CompiledRule, event: Event) -> Measure:
        self._materialise()  # a deferred windowed value is the window's aggregate before this sample joins it
        return super()._measure(plan, event)

    def _remember(self, measure: Any, event: Event, explanation: list[dict[str, Any]]) -> None:
        self._materialise()  # the reference `observe` (trigger) takes the sample: nothing deferred may outlive it
        super()._remember(measure, event, explanation)

    def _refresh(self, episode: Episode) -> None:
        if self._sample is None:
            self._episode_sample = None
            super()._refresh(episode)
        else:
            self._episode_sample = self._sample

    def _fire(self, plan: CompiledRule, key: str, at: datetime, reason: str, no_data: bool = False) -> list[Transition]:
        self._materialise()
        self._episode_sample = None
        return super()._fire(plan, key, at, reason, no_data)

    def _resolve(self, plan: CompiledRule, key: str, at: datetime, reason: str) -> list[Transition]:
        self._materialise()
        return super()._resolve(plan, key, at, reason)

    def snapshot(self) -> dict[str, Any]:
        self._materialise()
        return super().snapshot()

    def frozen(self) -> FastThresholdSeries | None:
        """A private copy whose `snapshot()`, from any thread, is this series' snapshot now; None when a part of it
        is not copied here (an anomaly detector, a window other than a running one): snapshot it at once.

        The parts the live series changes in place (its window, its open episode) are copied; the rest is
        immutable or replaced whole (samples, `latest`, times, the plan)."""
        window = self.window
        if self.detector is not None or (window is not None and type(window) is not RunningWindow):
            return None
        twin = FastThresholdSeries.__new__(FastThresholdSeries)
        twin.__dict__.update(self.__dict__)
        if window is not None:
            twin.window = window.copied()
        if self.episode is not None:
            twin.episode = copy.copy(self.episode)
        return twin


_FRESH: dict[str, Any] = dict.fromkeys(
    (
        "pending_since",
        "newest",
        "resolved_at",
        "last_started",
        "episode",
        "window",
        "detector",
        "last_score",
        "_sample",
        "_episode_sample",
    )
) | {"phase": "inactive"}


def _runs(plan: CompiledRule) -> bool:
    """Whether the rule's window is a `RunningWindow` (avg, sum and count windows of metric rules)."""
    trigger = plan.rule.trigger_spec
    return isinstance(trigger, MetricTrigger) and trigger.aggregation in ("avg", "sum", "count")


def _copy_into(episode: Episode, sample: Sample, explanation: list[dict[str, Any]]) -> None:
    episode.payload = sample.event.payload
    episode.value = sample.value
    episode.explanation = explanation
    episode.source_event_id = sample.event.event_id


def _expr(plan: CompiledRule, recovering: bool) -> str:
    """The trigger node's text, as `measure_metric` writes it."""
    if not recovering:
        return plan.expr
    trigger = plan.rule.trigger_spec
    assert isinstance(trigger, MetricTrigger)
    subject = trigger.metric_name
    if trigger.aggregation:
        subject = f"{trigger.aggregation}({subject}) over {trigger.window}"
    return f"{subject} {trigger.operator} {literal(trigger.recover_threshold)} (recover_threshold while firing)"
