"""Backtest: variants of a draft rule over one labelled series, measured with the evaluator's engine."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from services.common.domain.anomaly.backtest import (
    Point,
    Variant,
    backtest,
    distribution,
    observes,
    series_point,
    set_path,
)
from services.common.domain.rules.model import parse_rule
from tests.common.domain.kit import T0, at

SPIKES = {30, 45, 58}  # the labelled anomalies; 21 and 23 are unlabelled bumps a loose threshold flags


def series() -> list[Point]:
    points = []
    for n in range(60):
        value = 40 + n % 5 + (5 if n in (21, 23) else 0) + (50 if n in SPIKES else 0)
        points.append(Point({"timestamp": at(n).isoformat(), "cpu_percent": value}, n in SPIKES))
    return points


def rule(**trigger: Any) -> Any:
    spec = {"value_path": "cpu_percent", "anomaly_method": "zscore", "threshold": 3, "min_baseline": 20, **trigger}
    return parse_rule({"name": "lab13", "trigger_type": "anomaly", "trigger_spec": spec})


def test_a_tighter_threshold_removes_the_false_positives_and_says_so_in_numbers() -> None:
    variants = [Variant("zscore-2", rule(threshold=2)), Variant("zscore-4", rule(threshold=4))]
    report = backtest(variants, series(), T0, "acme")
    assert (report["samples"], report["labelled"]) == (60, 60)
    loose, tight = report["variants"]
    assert (loose["learning"], loose["scored"], loose["errors"]) == (20, 40, 0)  # below min_baseline: disabled
    assert [f["index"] for f in loose["flagged"]] == [21, 23, 30, 45, 58]
    assert loose["labels"]["false_positive"] == 2
    assert loose["labels"]["false_positive_ratio"] == pytest.approx(2 / 5)
    assert [f["index"] for f in tight["flagged"]] == [30, 45, 58]
    labels = tight["labels"]
    assert (labels["true_positive"], labels["false_positive"], labels["false_negative"]) == (3, 0, 0)
    assert (labels["precision"], labels["recall"], labels["false_positive_ratio"]) == (1.0, 1.0, 0.0)
    assert tight["compared_with_first"]["false_positive_ratio"] == pytest.approx(-0.4)
    assert tight["compared_with_first"]["explanation"] == (
        "zscore-4: 3 flagged (was 5 with zscore-2), false positive ratio 0.00 (was 0.40), "
        "precision 1.00 (was 0.60), recall 1.00 (was 1.00)"
    )
    # Each spike opens an episode and the next normal sample resolves it.
    assert tight["firings"] == 3 and len(tight["episodes"]) == 3
    assert sum(b["count"] for b in tight["scores"]["histogram"]) == 40 == tight["scores"]["count"]


def test_methods_side_by_side_without_labels() -> None:
    points = [Point(p.payload) for p in series()]
    variants = [Variant("iqr", rule(anomaly_method="iqr", threshold=1)), Variant("ema", rule(anomaly_method="ema"))]
    report = backtest(variants, points, T0, "acme")
    assert report["labelled"] == 0
    for variant in report["variants"]:
        assert "labels" not in variant and variant["anomalies"] >= 3
        assert {f["index"] for f in variant["flagged"]} >= SPIKES
        assert variant["trigger_spec"]["anomaly_method"] == variant["name"]


def test_samples_without_the_value_are_errors_not_negatives() -> None:
    points = [Point({"timestamp": at(n).isoformat(), "memory": 1}, False) for n in range(3)]
    (only,) = backtest([Variant("base", rule())], points, T0, "acme")["variants"]
    assert (only["errors"], only["scored"], only["learning"], only["anomalies"]) == (3, 0, 0, 0)


@pytest.mark.parametrize(
    ("scores", "normalised", "quantiles", "counts"),
    [
        ([], [], {}, [0] * 10),
        ([1.0, 2.0, 3.0, 4.0], [0.1, 0.35, 0.5, 1.0], {"p50": 2.0, "p90": 4.0, "p95": 4.0, "p99": 4.0}, None),
        ([1.0, float("inf")], [0.2, 1.0], {"p50": 1.0, "p90": None, "p95": None, "p99": None}, None),
    ],
)
def test_score_distribution(
    scores: list[float], normalised: list[float], quantiles: dict[str, Any], counts: list[int] | None
) -> None:
    shown = distribution(scores, normalised)
    assert shown["quantiles"] == quantiles and shown["count"] == len(scores)
    histogram = [b["count"] for b in shown["histogram"]]
    assert sum(histogram) == len(normalised) and (counts is None or histogram == counts)
    if normalised:
        assert histogram[9] == normalised.count(1.0) + sum(1 for v in normalised if 0.9 <= v < 1.0)


def test_series_points_and_which_stored_events_a_rule_observes() -> None:
    point = series_point("host.cpu", 91.5, {"host": {"name": "a"}}, at(5), True)
    assert point.payload == {"host": {"name": "a", "cpu": 91.5}, "timestamp": "2024-05-01T12:00:05Z"}
    assert point.label is True
    assert set_path({}, "a.b.c", 1) == {"a": {"b": {"c": 1}}}
    with pytest.raises(ValueError, match="no value path"):
        series_point(None, 1.0, None, at(0), None)
    assert observes(rule(), {"cpu_percent": 1}, None) and not observes(rule(), {"cpu": 1}, None)
    assert observes(rule(), {"metric": "cpu_percent", "value": 3}, None)
    errors = parse_rule({"name": "e", "trigger_type": "event", "trigger_spec": {"event_type": "error"}})
    assert observes(errors, {}, "error") and not observes(errors, {}, "warning")
    assert at(1) - at(0) == timedelta(seconds=1)
