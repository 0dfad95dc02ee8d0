"""Anomaly detectors (zscore, iqr, ema) and the anomaly rule lifecycle, lab 4 included."""

from __future__ import annotations

import json
import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.domain.anomaly.scoring import Detector, Moments
from services.common.domain.evaluation.rule_engine import RuleEngine
from tests.common.domain.kit import event, make_rule


def trained(method: str, values: list[float], threshold: float = 3, **options: float) -> Detector:
    detector = Detector(method, threshold, min_baseline=len(values), **options)  # type: ignore[arg-type]
    for n, value in enumerate(values):
        detector.observe(float(n), value)
    return detector


SCORE_CASES = [
    # zscore: mean 11, population std 1
    ("zscore", [10, 12] * 5, 3, {}, 99, 88.0, True),
    ("zscore", [10, 12] * 5, 3, {}, 11.5, 0.5, False),
    ("zscore", [10, 12] * 5, 3, {}, 14, 3.0, False),  # at the threshold: not above it
    # iqr over 1..9: q1 3, q3 7, IQR 4; k 1.5 -> a unit of 6 outside the box
    ("iqr", list(range(1, 10)), 1, {}, 20, 13 / 6, True),
    ("iqr", list(range(1, 10)), 3, {}, 20, 13 / 6, False),
    ("iqr", list(range(1, 10)), 1, {"iqr_multiplier": 3.0}, 20, 13 / 12, True),
    ("iqr", list(range(1, 10)), 1, {}, 5, 0.0, False),
    # ema over a constant baseline: no spread, so any other value is infinitely far
    ("ema", [5.0] * 6, 3, {"ema_alpha": 0.5}, 5, 0.0, False),
    ("ema", [5.0] * 6, 3, {"ema_alpha": 0.5}, 6, math.inf, True),
]


@pytest.mark.parametrize(("method", "baseline", "threshold", "options", "value", "score", "anomalous"), SCORE_CASES)
def test_scores(
    method: str, baseline: list[float], threshold: float, options: dict, value: float, score: float, anomalous: bool
) -> None:
    verdict = trained(method, baseline, threshold, **options).score(value)
    assert verdict.score == pytest.approx(score)
    assert verdict.is_anomaly is anomalous
    assert 0 <= verdict.normalised <= 1 and (verdict.normalised > 0.5) is anomalous
    assert "expected_band" in verdict.details
    json.dumps(verdict.as_dict(), allow_nan=False)  # an infinite score is written as null


def test_zscore_details_name_the_expected_band() -> None:
    verdict = trained("zscore", [10, 12] * 5).score(99)
    assert verdict.details["mean"] == 11 and verdict.details["std"] == 1 and verdict.details["z"] == 88
    assert verdict.details["expected_band"] == [8, 14]


def test_ema_follows_the_level() -> None:
    detector = trained("ema", [10, 11, 10, 11, 10, 11], ema_alpha=0.3)
    assert detector.score(10.5).is_anomaly is False
    assert detector.score(30).is_anomaly is True


def test_below_min_baseline_detection_is_disabled_and_says_so() -> None:
    detector = Detector("zscore", 3, min_baseline=5)
    for n in range(3):
        verdict = detector.observe(float(n), 10.0)
    assert verdict.is_anomaly is None and verdict.score is None and not verdict.ready
    assert verdict.reason == "anomaly detection disabled: baseline 2 of 5 samples"
    assert detector.baseline()["ready"] is False and detector.baseline()["samples"] == 3


def test_memory_is_bounded() -> None:
    detector = Detector("zscore", 3, min_baseline=2)
    for n in range(1200):
        detector.observe(float(n), float(n % 7))
    assert len(detector.model.samples) == 500  # type: ignore[attr-defined]
    windowed = Detector("iqr", 3, min_baseline=2, window_seconds=60)
    for n in range(300):
        windowed.observe(float(n), 1.0)
    assert [t for t, _ in windowed.model.samples] == [float(n) for n in range(240, 300)]  # type: ignore[attr-defined]


def test_snapshot_restore_gives_the_same_scores() -> None:
    for method in ("zscore", "iqr", "ema"):
        detector = trained(method, [3, 5, 4, 6, 5, 4, 7])
        copy = Detector(method, 3, min_baseline=7)
        copy.restore(json.loads(json.dumps(detector.snapshot())))
        for value in (4.5, 40, -3):
            assert copy.observe(100, value) == detector.observe(100, value)


LAB4 = {
    "trigger_type": "anomaly",
    "trigger_spec": {"value_path": "cpu_percent", "anomaly_method": "zscore", "threshold": 3.0, "min_baseline": 10},
}


def test_lab4_baseline_then_outlier_then_recovery() -> None:
    engine = RuleEngine()
    engine.upsert_rule(make_rule(LAB4))
    early = engine.trigger("r1", event(0, {"cpu_percent": 40}))
    assert early.errors == ["trigger_spec: anomaly detection disabled: baseline 0 of 10 samples"]
    assert engine.anomaly_status("r1")["ready"] is False
    engine.on_events([event(n, {"cpu_percent": 40 + n % 5}) for n in range(1, 20)])
    status = engine.anomaly_status("r1")
    assert status["ready"] is True and status["method"] == "zscore"
    assert status["keys"][""]["baseline"]["samples"] == 20 and status["keys"][""]["baseline"]["required"] == 10
    spike = engine.trigger("r1", event(30, {"cpu_percent": 99}))
    assert (spike.matched, spike.state) == (True, "firing")
    node = spike.explanation[0]
    assert node["result"] is True and node["value"] == 99 and node["score"] > 3 and node["method"] == "zscore"
    last = engine.anomaly_status("r1")["keys"][""]["last"]
    assert last["is_anomaly"] is True and last["value"] == 99 and last["at"] == "2024-05-01T12:00:30Z"
    assert last["details"]["expected_band"][0] < 42 < last["details"]["expected_band"][1]
    (resolved,) = engine.on_events([event(31, {"cpu_percent": 42})])
    assert (resolved.kind, resolved.reason, resolved.event_id) == ("resolved", "condition false", spike.event_id)


def test_anomaly_status_is_per_group_key_and_only_for_anomaly_rules() -> None:
    engine = RuleEngine()
    body = {**LAB4, "trigger_spec": {**LAB4["trigger_spec"], "group_by": ["host"]}}
    engine.upsert_rule(make_rule(body))
    engine.upsert_rule(make_rule({"trigger_type": "event", "trigger_spec": {"event_type": "e"}}, "ev"))
    engine.on_events([event(0, {"cpu_percent": 1, "host": "a"}), event(1, {"cpu_percent": 1, "host": "b"})])
    assert sorted(engine.anomaly_status("r1")["keys"]) == ["host=a", "host=b"]
    with pytest.raises(ValueError):
        engine.anomaly_status("ev")
    with pytest.raises(KeyError):
        engine.anomaly_status("nope")


def test_anomaly_state_survives_a_snapshot() -> None:
    rule = make_rule(LAB4)
    engine = RuleEngine()
    engine.upsert_rule(rule)
    engine.on_events([event(n, {"cpu_percent": 40 + n % 5}) for n in range(20)])
    restored = RuleEngine.restore(json.loads(json.dumps(engine.snapshot())), [rule])
    assert restored.anomaly_status("r1") == engine.anomaly_status("r1")
    spike = event(30, {"cpu_percent": 99})
    assert [t.as_dict() for t in restored.on_events([spike])] == [t.as_dict() for t in engine.on_events([spike])]


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.floats(-1e9, 1e9), min_size=2, max_size=60), keep=st.integers(2, 60))
def test_sliding_moments_equal_a_fresh_computation(values: list[float], keep: int) -> None:
    moments, live = Moments(), []
    for value in values:
        moments.add(value)
        live.append(value)
        if len(live) > keep:
            moments.remove(live.pop(0))
    mean, std = moments.mean_std()
    exact_mean = sum(Fraction(v) for v in live) / len(live)
    exact_variance = sum((Fraction(v) - exact_mean) ** 2 for v in live) / len(live)
    assert mean == float(exact_mean)  # correctly rounded, no drift
    assert std == pytest.approx(math.sqrt(exact_variance), rel=1e-12, abs=1e-12)
