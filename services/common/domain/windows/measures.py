"""The trigger node of a metric or anomaly sample: raw value, windowed aggregate, or anomaly score, explained."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.common.domain.anomaly.scoring import Detector
from services.common.domain.conditions.tree import Explanation, compare, literal
from services.common.domain.events.model import Event, format_time, metric_value
from services.common.domain.rules.paths import MISSING
from services.common.domain.rules.triggers import AnomalyTrigger, MetricTrigger
from services.common.domain.windows.sliding import SlidingWindow

PATH = "trigger_spec"


@dataclass(frozen=True)
class Measure:
    """The trigger node of one sample; `taken` says whether the sample became part of the series.

    `at` is the time the sample is judged at (the series' newest sample time); `extra` adds fields to the
    node's JSON (an anomaly's score and details).
    """

    node: Explanation
    at: datetime
    taken: bool
    extra: dict[str, Any] = field(default_factory=dict)


def sample_of(path: str, event: Event) -> tuple[Any, float | None, str | None]:
    """The raw value at a metric path, as a float, or the error that names why it is unusable."""
    raw = metric_value(event.payload, path)
    if raw is MISSING:
        return None, None, f"metric '{path}' not found in payload"
    number = _number(raw)
    if number is None:
        return raw, None, f"metric '{path}' is not a number: {literal(raw)}"
    return raw, number, None


def measure_metric(
    trigger: MetricTrigger, expr: str, event: Event, window: SlidingWindow | None, newest: datetime | None, firing: bool
) -> Measure:
    """Compare the raw value, or the window's aggregate once the sample is in, with the threshold in force."""
    threshold = trigger.threshold
    if firing and trigger.recover_threshold is not None:  # hysteresis: recover_threshold decides while firing
        threshold = trigger.recover_threshold
        subject = trigger.metric_name
        if trigger.aggregation:
            subject = f"{trigger.aggregation}({subject}) over {trigger.window}"
        expr = f"{subject} {trigger.operator} {literal(threshold)} (recover_threshold while firing)"
    raw, number, error = sample_of(trigger.metric_name, event)
    if number is None:
        return Measure(Explanation(expr, None, raw, error, path=PATH), event.time, False)
    if window is None:
        if newest is not None and event.time < newest:
            error = f"sample at {format_time(event.time)} refused: older than the newest sample {format_time(newest)}"
            return Measure(Explanation(expr, None, raw, error, path=PATH), event.time, False)
        result, problem = compare(trigger.operator, raw, threshold)
        return Measure(Explanation(expr, result, raw, problem, path=PATH), event.time, True)
    admission = window.add(event.time.timestamp(), number)
    if not admission.accepted:
        error = f"sample at {format_time(event.time)} {admission.value}"
        return Measure(Explanation(expr, None, raw, error, path=PATH), event.time, False)
    at = event.time if newest is None else max(newest, event.time)
    value = window.aggregate(trigger.aggregation or "avg")
    if value is None:
        return Measure(Explanation(expr, None, None, "rate needs two samples at different times", path=PATH), at, True)
    result, problem = compare(trigger.operator, value, threshold)
    return Measure(Explanation(expr, result, value, problem, path=PATH), at, True)


def measure_anomaly(
    expr: str, trigger: AnomalyTrigger, event: Event, detector: Detector, newest: datetime | None
) -> Measure:
    """Score the value against the baseline (then learn it); a baseline too small is reported, not False."""
    raw, number, error = sample_of(trigger.value_path, event)
    if number is None:
        return Measure(Explanation(expr, None, raw, error, path=PATH), event.time, False)
    verdict = detector.observe(event.time.timestamp(), number)
    at = event.time if newest is None else max(newest, event.time)
    node = Explanation(expr, verdict.is_anomaly, raw, None if verdict.ready else verdict.reason, path=PATH)
    scored = verdict.as_dict()
    extra = {key: scored[key] for key in ("score", "normalised_score", "is_anomaly", "reason", "details")}
    return Measure(node, at, True, extra | {"method": trigger.anomaly_method, "at": format_time(event.time)})


def _number(raw: Any) -> float | None:
    """A sample as a float: numbers, and numeric strings as shell scripts send them."""
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        return None
    try:
        number = float(raw)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None
