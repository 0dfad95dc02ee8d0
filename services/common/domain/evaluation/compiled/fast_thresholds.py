"""Metric series judged without explanations: the reference lifecycle, with a sample's explanation built lazily.

`FastThresholdSeries` is a `ThresholdSeries` (same phases, timers, window and snapshot) with one more way in,
`judge_sample`: the verdict comes from `compare` and `conditions.tree.truth` instead of explanation trees, and the
sample is kept as a `Sample` until something reads its explanation (a transition, a snapshot, the reference
`observe`). A series firing on many true samples thus builds one explanation per transition, not one per sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.common.domain.conditions.tree import Explanation, combine, compare, literal, truth
from services.common.domain.events.model import Event
from services.common.domain.lifecycle.episodes import CompiledRule, Episode, judge
from services.common.domain.lifecycle.thresholds import ThresholdSeries
from services.common.domain.lifecycle.transitions import Transition
from services.common.domain.rules.triggers import MetricTrigger
from services.common.domain.windows.measures import PATH, sample_of

_RATE_UNDEFINED = "rate needs two samples at different times"


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
        self._sample: Sample | None = None  # `latest` not yet built from it
        self._episode_sample: Sample | None = None  # the open episode shows this sample, not yet copied in

    @classmethod
    def adopt(cls, plan: CompiledRule, series: ThresholdSeries) -> FastThresholdSeries:
        """This class around the state of a reference series (one restored, or created by `trigger`)."""
        fast = cls.__new__(cls)
        fast.__dict__.update(series.__dict__)
        fast._plan, fast._sample, fast._episode_sample = plan, None, None
        return fast

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
        transitions: list[Transition] = []
        if self.episode is not None and self.episode.no_data:
            transitions += self._resolve(plan, key, at, "data received")
        if verdict is True:
            transitions += self._on_true(plan, key, at)
        else:
            transitions += self._on_false(plan, key, at, verdict)
        return transitions

    def _materialise(self) -> None:
        """Build `latest` from the deferred sample, and copy it into the episode that shows it."""
        sample = self._sample
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
            if shown is not sample:  # an older sample: build its own explanation
                _copy_into(self.episode, shown, shown.explanation(self._plan))
            else:
                super()._refresh(self.episode)

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
