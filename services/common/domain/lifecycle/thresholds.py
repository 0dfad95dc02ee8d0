"""The lifecycle of metric and anomaly rules per group key: inactive -> pending -> firing -> resolved.

- A sample is judged as (trigger comparison on the raw value, windowed aggregate or anomaly score:
  `windows/measures.py`) AND
  the conditions tree (evaluated on the sample's payload; it never filters what enters a window).
- True: inactive -> pending when a `duration` is set (fires once it has held that long), else fires at
  once. While firing, later true samples only refresh the episode (count, last_seen, payload, value):
  no `updated` per sample. With `recover_threshold` the comparison uses it while firing (hysteresis).
- False: pending -> inactive; firing -> resolved. Unknown (an evaluation error, `rate` of one sample):
  pending -> inactive (the condition is not known to hold), firing stays firing.
- A raw-value sample older than the newest one of its series is refused (the newest value is the
  series' current truth); a windowed sample is refused when more than one window length late.
- Timers, checked by `advance(now)` before every sample and on every tick: `duration` elapsed while
  pending (fires at pending start + duration); `resolve_after` without samples (resolves, or drops a
  pending); `no_data_after` without samples (opens a no-data episode, resolved by the next sample).
  Transition times are the timers' deadlines, so ticks at other instants give the same transitions.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from services.common.domain.anomaly.detectors import ANOMALY_PARAMETERS
from services.common.domain.anomaly.detectors.refit import RefitExecutor
from services.common.domain.anomaly.scoring import Detector
from services.common.domain.conditions.tree import literal
from services.common.domain.events.model import Event, format_time, parse_time
from services.common.domain.lifecycle.episodes import (
    CompiledRule,
    Episode,
    Observation,
    State,
    episode_event_id,
    episode_labels,
    judge,
    make_transition,
)
from services.common.domain.lifecycle.transitions import Transition
from services.common.domain.rules.triggers import AnomalyTrigger, MetricTrigger
from services.common.domain.windows.measures import Measure, measure_anomaly, measure_metric
from services.common.domain.windows.sliding import SlidingWindow

Phase = Literal["inactive", "pending", "firing"]
_MIN_WINDOW = 0.001  # a "0s" window still holds the samples of one instant
_TICK = timedelta(microseconds=1)


class ThresholdSeries:
    """State of one (metric or anomaly rule, group key): phase, timers, window, open episode."""

    def __init__(self, plan: CompiledRule) -> None:
        self.phase: Phase = "inactive"
        self.pending_since: datetime | None = None
        self.newest: datetime | None = None
        self.resolved_at: datetime | None = None
        self.last_started: datetime | None = None
        self.latest: dict[str, Any] = {}
        self.episode: Episode | None = None
        self.window: SlidingWindow | None = None
        self.detector: Detector | None = None
        self.last_score: dict[str, Any] | None = None  # the latest anomaly verdict, for the status route
        trigger = plan.rule.trigger_spec
        if isinstance(trigger, AnomalyTrigger):
            self.detector = detector_for(trigger, plan.window, plan.executor)
        elif plan.window is not None:
            self.window = SlidingWindow(max(plan.window, _MIN_WINDOW))

    @property
    def idle(self) -> bool:
        # Nothing learned yet (an anomaly baseline learned while the rule is inactive counts): no need to keep it.
        return self.newest is None and self.episode is None and self.last_score is None

    def learn(self, plan: CompiledRule, event: Event) -> None:
        """An inactive anomaly rule's sample: it is scored and joins the baseline; the lifecycle does not move."""
        if self.detector is not None:
            self._measure(plan, event)

    def baseline_only(self, plan: CompiledRule) -> ThresholdSeries:
        """A fresh series keeping only this one's anomaly baseline (the rule was deactivated: episodes end)."""
        fresh = ThresholdSeries(plan)
        fresh.detector, fresh.last_score = self.detector, self.last_score
        return fresh

    def observe(self, plan: CompiledRule, key: str, event: Event) -> Observation:
        """Judge one sample and move the lifecycle; timers due by the sample's time run first."""
        transitions = self.advance(plan, key, event.time)
        measure = self._measure(plan, event)
        judgement = judge(plan, measure.node, event.payload, measure.extra)
        reason = "evaluation error" if judgement.result is None else f"condition {str(judgement.result).lower()}"
        if measure.taken:
            self._remember(measure, event, judgement.explanation)
            if self.episode is not None and self.episode.no_data:
                transitions += self._resolve(plan, key, measure.at, "data received")
            if judgement.result is True:
                transitions += self._on_true(plan, key, measure.at)
            else:
                transitions += self._on_false(plan, key, measure.at, judgement.result)
        matched = judgement.result is True
        state: State = "no_match"
        if matched and self.phase != "inactive":
            state = self.phase
        event_id = episode_event_id(plan, key, self.episode) if matched and self.episode is not None else None
        return Observation(
            matched, state, event_id, measure.node.value, judgement.explanation, judgement.errors, reason, transitions
        )

    def _remember(self, measure: Measure, event: Event, explanation: list[dict[str, Any]]) -> None:
        self.newest = measure.at if self.newest is None else max(self.newest, measure.at)
        self.latest = {
            "payload": event.payload,  # payloads are never mutated: keep a reference, copy when snapshotting
            "value": measure.node.value,
            "explanation": explanation,
            "source_event_id": event.event_id,
        }

    def _on_true(self, plan: CompiledRule, key: str, at: datetime) -> list[Transition]:
        if self.phase == "firing":
            assert self.episode is not None
            self.episode.count += 1
            self.episode.last_seen = max(self.episode.last_seen, at)
            self._refresh(self.episode)
            return []
        if self.phase == "inactive":
            if plan.duration:
                self.phase, self.pending_since = "pending", at
                return []
            return self._fire(plan, key, at, "threshold crossed")
        return []  # pending: the duration timer decides

    def _on_false(self, plan: CompiledRule, key: str, at: datetime, result: bool | None) -> list[Transition]:
        if self.phase == "pending":
            self.phase, self.pending_since = "inactive", None
        elif self.phase == "firing" and result is False:
            assert self.episode is not None
            self._refresh(self.episode)  # the resolution shows the sample that ended the episode
            trigger = plan.rule.trigger_spec
            recover = getattr(trigger, "recover_threshold", None)
            reason = f"value crossed recover_threshold {literal(recover)}" if recover is not None else "condition false"
            return self._resolve(plan, key, at, reason)
        return []

    def _fire(self, plan: CompiledRule, key: str, at: datetime, reason: str, no_data: bool = False) -> list[Transition]:
        if self.last_started is not None and at <= self.last_started:
            # Episodes of a series are told apart by their start: late samples judged at the same newest
            # time could open two episodes at one instant, so the later one starts a microsecond after.
            at = self.last_started + _TICK
        self.last_started = at
        self.episode = Episode(
            started_at=at,
            rule_version=plan.rule.version,
            last_seen=self.newest or at,
            payload=self.latest.get("payload", {}),
            value=None,
            explanation=[],
            source_event_id=self.latest.get("source_event_id"),
            no_data=no_data,
            labels=episode_labels(plan, self.latest.get("payload", {})),
        )
        if no_data:
            self.episode.explanation = [_no_data_node(plan)]
        else:
            self._refresh(self.episode)
        self.phase, self.pending_since = "firing", None
        return [make_transition(plan, key, self.episode, "fired", at, reason)]

    def _refresh(self, episode: Episode) -> None:
        episode.payload = self.latest["payload"]
        episode.value = self.latest["value"]
        episode.explanation = self.latest["explanation"]
        episode.source_event_id = self.latest["source_event_id"]

    def _resolve(self, plan: CompiledRule, key: str, at: datetime, reason: str) -> list[Transition]:
        assert self.episode is not None
        at = max(at, self.episode.started_at)
        transition = make_transition(plan, key, self.episode, "resolved", at, reason)
        self.episode, self.phase, self.resolved_at = None, "inactive", at
        return [transition]

    def close(self, plan: CompiledRule, key: str, at: datetime | None, reason: str) -> list[Transition]:
        """Resolve the open episode (rule deactivated, changed or deleted); nothing when none is open."""
        self.pending_since = None
        if self.episode is None:
            self.phase = "inactive"
            return []
        return self._resolve(
            plan, key, self.episode.last_seen if at is None else max(at, self.episode.last_seen), reason
        )

    def advance(self, plan: CompiledRule, key: str, now: datetime) -> list[Transition]:
        """Run every timer due at or before `now`, oldest first."""
        out: list[Transition] = []
        while (timer := self._next_timer(plan)) is not None and timer[0] <= now:
            deadline, kind = timer
            out += self._expire(plan, key, deadline, kind)
        return out

    def next_deadline(self, plan: CompiledRule) -> datetime | None:
        timer = self._next_timer(plan)
        return None if timer is None else timer[0]

    def _next_timer(self, plan: CompiledRule) -> tuple[datetime, str] | None:
        timers: list[tuple[datetime, str]] = []
        if self.phase == "pending" and plan.duration and self.pending_since is not None:
            timers.append((self.pending_since + plan.duration, "duration"))
        samples_expected = self.phase == "pending" or (self.phase == "firing" and not self._no_data_episode)
        if plan.resolve_after is not None and self.newest is not None and samples_expected:
            timers.append((self.newest + plan.resolve_after, "stale"))
        if plan.no_data_after is not None and self.newest is not None and self.phase != "firing":
            deadline = self.newest + plan.no_data_after
            timers.append((max(deadline, self.resolved_at) if self.resolved_at else deadline, "no_data"))
        return min(timers, key=lambda timer: timer[0]) if timers else None

    @property
    def _no_data_episode(self) -> bool:
        return self.episode is not None and self.episode.no_data

    def _expire(self, plan: CompiledRule, key: str, at: datetime, kind: str) -> list[Transition]:
        trigger = plan.rule.trigger_spec
        if kind == "duration":
            return self._fire(plan, key, at, f"duration {getattr(trigger, 'duration', '')} elapsed")
        if kind == "stale" and self.phase == "pending":
            self.phase, self.pending_since = "inactive", None
            return []
        if kind == "stale":
            return self._resolve(
                plan, key, at, f"resolve_after {getattr(trigger, 'resolve_after', '')} without samples"
            )
        return self._fire(plan, key, at, f"no data for {getattr(trigger, 'no_data_after', '')}", no_data=True)

    def _measure(self, plan: CompiledRule, event: Event) -> Measure:
        trigger = plan.rule.trigger_spec
        if isinstance(trigger, AnomalyTrigger):
            assert self.detector is not None
            measure = measure_anomaly(plan.expr, trigger, event, self.detector, self.newest)
            if measure.taken:
                self.last_score = {"value": measure.node.value, **measure.extra}
            return measure
        assert isinstance(trigger, MetricTrigger)
        return measure_metric(trigger, plan.expr, event, self.window, self.newest, self.phase == "firing")

    def snapshot(self) -> dict[str, Any]:
        """JSON-able state; `restore` rebuilds an identical series."""
        return {
            "type": "threshold",
            "phase": self.phase,
            "pending_since": _time_or_none(self.pending_since),
            "newest": _time_or_none(self.newest),
            "resolved_at": _time_or_none(self.resolved_at),
            "last_started": _time_or_none(self.last_started),
            "latest": {**self.latest, "payload": dict(self.latest["payload"])} if self.latest else {},
            "episode": None if self.episode is None else self.episode.snapshot(),
            "window": None if self.window is None else self.window.snapshot(),
            "detector": None if self.detector is None else self.detector.snapshot(),
            "last_score": self.last_score,
        }

    @classmethod
    def restore(cls, plan: CompiledRule, data: dict[str, Any]) -> ThresholdSeries:
        series = cls(plan)
        series.phase = data["phase"]
        series.pending_since = _parse_or_none(data["pending_since"])
        series.newest = _parse_or_none(data["newest"])
        series.resolved_at = _parse_or_none(data["resolved_at"])
        series.last_started = _parse_or_none(data["last_started"])
        series.latest = data["latest"]
        series.episode = None if data["episode"] is None else Episode.restore(data["episode"])
        series.window = None if data["window"] is None else SlidingWindow.restore(data["window"])
        if series.detector is not None and data["detector"] is not None:
            series.detector.restore(data["detector"])
        series.last_score = data["last_score"]
        return series


def detector_for(
    trigger: AnomalyTrigger, window_seconds: float | None, executor: RefitExecutor | None = None
) -> Detector:
    """The detector an anomaly trigger asks for (model refits on `executor`, inline by default)."""
    options = {name: getattr(trigger, name) for name in ANOMALY_PARAMETERS}
    return Detector(
        trigger.anomaly_method,
        trigger.threshold,
        trigger.min_baseline,
        window_seconds=window_seconds,
        executor=executor,
        **options,
    )


def _no_data_node(plan: CompiledRule) -> dict[str, Any]:
    after = getattr(plan.rule.trigger_spec, "no_data_after", "")
    return {"expr": f"no data for {after}", "result": True, "value": None, "path": "trigger_spec.no_data_after"}


def _time_or_none(value: datetime | None) -> str | None:
    return None if value is None else format_time(value)


def _parse_or_none(value: str | None) -> datetime | None:
    return None if value is None else parse_time(value)
