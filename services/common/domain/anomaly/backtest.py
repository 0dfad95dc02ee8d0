"""Backtest: replay a series through a draft rule, or several parameter sets of it, and measure each one.

Every variant runs through `simulate` (a fresh engine holding only that rule, the evaluator's engine and
detectors), sample by sample in the given order, so a backtest flags exactly what the evaluator would have
flagged on the same data. Per variant it reports the samples flagged (the rule matched: for an anomaly rule,
the detector's `is_anomaly` and the conditions), the episodes opened (firings), the score distribution and,
where samples carry a label (True: a real anomaly), the confusion counts with precision, recall and the
false-positive ratio (false positives / flagged samples). Samples scored while the baseline was below
`min_baseline` are counted as `learning` (detection disabled), not as negatives.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.common.domain.evaluation.simulate import simulate
from services.common.domain.events.model import format_time, metric_value
from services.common.domain.rules.model import RuleSpec
from services.common.domain.rules.paths import MISSING

MAX_SAMPLES = 10_000  # per backtest
MAX_VARIANTS = 8
MAX_EVALUATIONS = 20_000  # samples x variants: about 5 s of one CPU at worst here (~250 us per evaluation)
LISTED = 100  # flagged samples and firings listed per variant (the counts are always complete)
QUANTILES = (0.5, 0.9, 0.95, 0.99)
BINS = 10


@dataclass(frozen=True)
class Point:
    """One sample to replay: the payload (with its `timestamp`), and whether it is a real anomaly, when known."""

    payload: Mapping[str, Any]
    label: bool | None = None


@dataclass(frozen=True)
class Variant:
    """One parameter set: a name and the rule spec it makes."""

    name: str
    spec: RuleSpec


def value_path(spec: RuleSpec) -> str | None:
    """Where a series' bare `value` goes in the payload: the anomaly `value_path` or the metric name."""
    trigger = spec.trigger_spec
    return getattr(trigger, "value_path", None) or getattr(trigger, "metric_name", None)


def observes(spec: RuleSpec, payload: Mapping[str, Any], event_type: str | None) -> bool:
    """Whether a stored event is one the rule looks at (its value is present, or its type is the rule's)."""
    path = value_path(spec)
    if path is not None:
        return metric_value(payload, path) is not MISSING
    return event_type is not None and event_type == getattr(spec.trigger_spec, "event_type", None)


def series_point(
    path: str | None, value: float | None, payload: Mapping[str, Any] | None, at: datetime, label: bool | None
) -> Point:
    """A supplied sample as a point: a bare value goes to the rule's path; the time becomes its `timestamp`."""
    body = dict(payload) if payload is not None else {}
    if value is not None:
        if path is None:
            raise ValueError("this rule has no value path: give each sample a payload")
        body = set_path(body, path, value)
    body["timestamp"] = format_time(at)
    return Point(body, label)


def set_path(payload: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """The payload with `value` at a dotted path (objects created on the way)."""
    head, _, rest = path.partition(".")
    if not rest:
        return payload | {head: value}
    inner = payload.get(head)
    return payload | {head: set_path(dict(inner) if isinstance(inner, Mapping) else {}, rest, value)}


def backtest(variants: Sequence[Variant], points: Sequence[Point], now: datetime, tenant: str) -> dict[str, Any]:
    """Run every variant over the same points; the later variants are compared with the first."""
    reports = [_run(index, variant, points, now, tenant) for index, variant in enumerate(variants)]
    first = reports[0] if reports else None
    for report in reports[1:]:
        assert first is not None
        report["compared_with_first"] = compare(first, report)
    return {
        "samples": len(points),
        "labelled": sum(1 for point in points if point.label is not None),
        "variants": reports,
    }


def _run(index: int, variant: Variant, points: Sequence[Point], now: datetime, tenant: str) -> dict[str, Any]:
    result = simulate(variant.spec, [p.payload for p in points], now, rule_id=f"backtest-{index}", tenant=tenant)
    flagged: list[dict[str, Any]] = []
    scores: list[float] = []
    normalised: list[float] = []
    learning = errors = 0
    confusion = Confusion()
    for point, outcome in zip(points, result.results, strict=True):
        node = outcome["conditions"][0] if outcome["conditions"] else {}
        if node.get("is_anomaly") is None and "score" in node:
            learning += 1  # detection disabled: the baseline is below min_baseline
            continue
        if outcome["errors"] and not outcome["matched"]:
            errors += 1
            continue
        _collect(node, scores, normalised)
        if outcome["matched"]:
            flagged.append(_flag(outcome["index"], point, node, outcome["value"]))
        if point.label is not None:
            confusion.add(bool(outcome["matched"]), point.label)
    firings = [t for t in result.transitions if t.kind == "fired"]
    report: dict[str, Any] = {
        "name": variant.name,
        "summary": result.summary,
        "trigger_spec": variant.spec.trigger_spec.model_dump(mode="json", exclude_none=True),
        "scored": len(points) - learning - errors,
        "learning": learning,
        "errors": errors,
        "anomalies": len(flagged),
        "flagged": flagged[:LISTED],
        "firings": len(firings),
        "episodes": [{"fired_at": t.at.isoformat(), "reason": t.reason, "group_key": t.group_key} for t in firings][
            :LISTED
        ],
        "scores": distribution(scores, normalised),
    }
    if confusion.total:
        report["labels"] = confusion.as_dict()
    return report


def _collect(node: Mapping[str, Any], scores: list[float], normalised: list[float]) -> None:
    score, norm = node.get("score"), node.get("normalised_score")
    if isinstance(score, int | float):
        scores.append(float(score))
    elif norm == 1.0:  # an infinite score (a zero-spread baseline) is written as null, normalised 1
        scores.append(math.inf)
    if isinstance(norm, int | float):
        normalised.append(float(norm))


def _flag(index: int, point: Point, node: Mapping[str, Any], value: Any) -> dict[str, Any]:
    return {
        "index": index,
        "timestamp": point.payload.get("timestamp"),
        "value": value,
        "score": node.get("score"),
        "normalised_score": node.get("normalised_score"),
        "label": point.label,
    }


class Confusion:
    """Point-wise confusion counts of flagged samples against labels."""

    def __init__(self) -> None:
        self.tp = self.fp = self.fn = self.tn = 0

    @property
    def total(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    def add(self, flagged: bool, anomaly: bool) -> None:
        if flagged and anomaly:
            self.tp += 1
        elif flagged:
            self.fp += 1
        elif anomaly:
            self.fn += 1
        else:
            self.tn += 1

    def as_dict(self) -> dict[str, Any]:
        precision = _share(self.tp, self.tp + self.fp)
        recall = _share(self.tp, self.tp + self.fn)
        f1 = None if not precision or not recall else 2 * precision * recall / (precision + recall)
        return {
            "true_positive": self.tp,
            "false_positive": self.fp,
            "false_negative": self.fn,
            "true_negative": self.tn,
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "false_positive_ratio": _share(self.fp, self.tp + self.fp),
            "false_positive_rate": _share(self.fp, self.fp + self.tn),
        }


def distribution(scores: Sequence[float], normalised: Sequence[float]) -> dict[str, Any]:
    """Quantiles of the raw scores (an infinite score counts as the largest) and a histogram of the
    normalised scores in [0, 1] (0.5 is the threshold), `BINS` equal bins."""
    ordered = sorted(scores)
    finite = [s for s in ordered if math.isfinite(s)]
    counts = [0] * BINS
    for value in normalised:
        counts[min(int(value * BINS), BINS - 1)] += 1
    return {
        "count": len(ordered),
        "infinite": len(ordered) - len(finite),
        "min": finite[0] if finite else None,
        "mean": sum(finite) / len(finite) if finite else None,
        "max": _finite_or_none(ordered[-1]) if ordered else None,
        "quantiles": {f"p{round(q * 100)}": _finite_or_none(_rank(ordered, q)) for q in QUANTILES} if ordered else {},
        "histogram": [{"from": i / BINS, "to": (i + 1) / BINS, "count": count} for i, count in enumerate(counts)],
    }


def compare(first: Mapping[str, Any], other: Mapping[str, Any]) -> dict[str, Any]:
    """The differences of a variant from the first one, with a sentence that says them in numbers."""
    delta: dict[str, Any] = {"anomalies": other["anomalies"] - first["anomalies"]}
    delta["firings"] = other["firings"] - first["firings"]
    parts = [f"{other['anomalies']} flagged (was {first['anomalies']} with {first['name']})"]
    before, after = first.get("labels"), other.get("labels")
    if before and after:
        for name in ("false_positive_ratio", "precision", "recall"):
            old, new = before[name], after[name]
            delta[name] = None if old is None or new is None else new - old
            parts.append(f"{name.replace('_', ' ')} {_text(new)} (was {_text(old)})")
    delta["explanation"] = f"{other['name']}: " + ", ".join(parts)
    return delta


def _rank(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank quantile (the same rule as the windows' p95)."""
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _share(part: int, whole: int) -> float | None:
    return None if whole == 0 else part / whole


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _text(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"
