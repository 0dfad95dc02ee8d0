"""The detector registry: every method through one interface, exact snapshots, deterministic refits."""

from __future__ import annotations

import json
import math
import time
import typing
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.domain.anomaly.detectors import METHODS, build_model
from services.common.domain.anomaly.detectors.multiscale import MultiScale
from services.common.domain.anomaly.detectors.pyod_window import PyodWindow
from services.common.domain.anomaly.detectors.running_stats import SlidingMax
from services.common.domain.anomaly.scoring import Detector
from services.common.domain.lifecycle.thresholds import detector_for
from services.common.domain.rules.errors import RuleValidationError
from services.common.domain.rules.model import parse_rule
from services.common.domain.rules.summary import summarize
from services.common.domain.rules.triggers import AnomalyMethod, AnomalyTrigger

# Small spans keep the property tests fast; the shapes are the shipped ones.
SMALL: dict[str, dict[str, Any]] = {
    "zscore": {},
    "iqr": {"iqr_multiplier": 1.5},
    "ema": {"ema_alpha": 0.2},
    "multiscale": {"baseline_span": 40, "record_span": 30, "rest_span": 5, "season_seconds": 10},
    "contextual": {"baseline_span": 40, "record_span": 30, "rest_span": 5, "season_seconds": 10},
    "hbos": {"training_window": 40, "refit_every": 15, "refit_lag": 4},
}


def detector(method: str, **extra: Any) -> Detector:
    threshold = 1.0 if method in ("multiscale", "contextual", "hbos") else 3.0
    return Detector(method, threshold, 10, **(SMALL[method] | extra))


def test_the_rule_model_and_the_registry_name_the_same_methods() -> None:
    assert set(typing.get_args(AnomalyMethod)) == set(METHODS) == set(SMALL)


def test_unknown_methods_and_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown anomaly method 'nope'"):
        build_model("nope", 10)
    with pytest.raises(ValueError, match="unknown anomaly parameters: colour"):
        build_model("zscore", 10, colour=1)
    build_model("zscore", 10, ema_alpha=0.5, rest_span=3)  # another method's parameters are left out


def wave(n: int) -> list[float]:
    return [10 + 3 * math.sin(i / 5) + (i % 7) * 0.1 for i in range(n)]


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_scores_a_spike_above_the_quiet_series(method: str) -> None:
    found = detector(method)
    verdicts = [found.observe(float(i), v) for i, v in enumerate(wave(120))]
    assert verdicts[0].is_anomaly is None and "disabled" in verdicts[0].reason
    quiet = max(v.score for v in verdicts[60:] if v.score is not None)
    spike = found.observe(200.0, 60.0)
    assert spike.is_anomaly is True and spike.score is not None and spike.score > quiet
    assert spike.normalised is not None and 0.5 < spike.normalised <= 1
    json.dumps(spike.as_dict(), allow_nan=False)
    assert found.baseline()["ready"] is True


@settings(max_examples=25, deadline=None)
@given(
    method=st.sampled_from(sorted(METHODS)),
    values=st.lists(st.floats(-1e6, 1e6) | st.sampled_from([0.0, 1.0, 2.0]), min_size=30, max_size=90),
    cut=st.integers(0, 90),
)
def test_a_restored_snapshot_at_any_point_gives_identical_scores(method: str, values: list[float], cut: int) -> None:
    cut = min(cut, len(values))
    original = detector(method)
    for i, value in enumerate(values[:cut]):
        original.observe(float(i), value)
    copy = detector(method)
    copy.restore(json.loads(json.dumps(original.snapshot(), allow_nan=False)))
    for i, value in enumerate(values[cut:], start=cut):
        assert copy.observe(float(i), value).as_dict() == original.observe(float(i), value).as_dict()


class DelayedPool:
    """A real thread pool whose refits take a while: the swap must still happen at the same sample."""

    def __init__(self, pool: ThreadPoolExecutor, delay: float) -> None:
        self.pool, self.delay = pool, delay

    def submit(self, fn: Callable[[], Any], /) -> Future[Any]:
        def slow() -> Any:
            time.sleep(self.delay)
            return fn()

        return self.pool.submit(slow)


def test_refits_on_a_thread_pool_give_the_inline_scores_and_swap_at_sample_n_plus_lag() -> None:
    values = [*wave(100), 40.0, *wave(60)]
    inline = detector("hbos")
    with ThreadPoolExecutor(2) as pool:
        threaded = detector("hbos", executor=DelayedPool(pool, 0.002))
        model = threaded.model
        assert isinstance(model, PyodWindow)
        swaps = []
        for i, value in enumerate(values):
            before = model.fitted
            assert threaded.observe(float(i), value).as_dict() == inline.observe(float(i), value).as_dict()
            if model.fitted is not before:
                swaps.append(model.seen)
    # the first fit starts at min_baseline (10) and lands 4 samples later; then one every 15 samples, 4 late
    assert swaps[:4] == [14, 19, 34, 49]


def test_multiscale_flags_the_onset_of_a_level_shift_once() -> None:
    found = Detector("multiscale", 1.0, 30, baseline_span=300, record_span=300, rest_span=50)
    series = wave(300) + [v + 20 for v in wave(60)]
    verdicts = [found.observe(float(i), v) for i, v in enumerate(series)]
    flagged = [i for i, v in enumerate(verdicts) if v.is_anomaly and i >= 150]  # records settle while it learns
    assert flagged[0] == 300 and len(flagged) <= 3  # the shift is told at its start, not on every sample
    details = verdicts[300].details
    assert details["onset"] is True and details["score_mean_1"] > 5
    assert details["expected_band"][0] < 10 < details["expected_band"][1]


def test_multiscale_season_compares_with_one_season_earlier() -> None:
    found = Detector("multiscale", 1.0, 10, season_seconds=600)  # one sample a minute: a lag of 10 samples
    for i in range(120):
        found.observe(60.0 * i, float(i % 10))  # a pattern that repeats every 10 minutes
    assert found.model.lag == 10  # type: ignore[attr-defined]
    details = found.score(3.0).details  # the value 10 samples before was 0: the season feature sees it
    assert details["season_lag"] == 10 and details["score_season"] > 0
    assert found.score(0.0).details["score_season"] == 0  # the season's difference is always 0 here


def test_multiscale_a_huge_spike_raises_its_record_by_a_bounded_step_only() -> None:
    found = Detector("multiscale", 1.0, 30, baseline_span=50, record_span=300, rest_span=5)
    series = [*wave(200), 1000.0, *wave(60), 40.0]  # a huge spike, then a smaller one that is still odd
    verdicts = [found.observe(float(i), v) for i, v in enumerate(series)]
    model = found.model
    assert isinstance(model, MultiScale)
    assert verdicts[200].details["score_mean_1"] > 100  # the huge spike is told
    assert model.records["mean_1"].peak() < 10  # but it raised the record by at most RECORD_GROWTH
    assert verdicts[-1].is_anomaly  # so the later, smaller spike is not hidden behind it
    warm = Detector("multiscale", 1.0, 30, baseline_span=300, record_span=300, rest_span=5)
    for i, v in enumerate([*wave(30), 1000.0]):  # a spike among the first scored samples sets no record
        warm.observe(float(i), v)
    assert warm.model.records["mean_1"].peak() == 0  # type: ignore[attr-defined]


def test_multiscale_memory_is_bounded() -> None:
    found = Detector("multiscale", 1.0, 10, baseline_span=50, record_span=20, rest_span=5)
    for i in range(500):
        found.observe(float(i), float(i % 13))
    model = found.model
    assert isinstance(model, MultiScale)
    assert len(model.baselines["mean_1"]) == 50 and all(len(stats) <= 50 for stats in model.baselines.values())
    assert all(len(record.queue) <= 20 for record in model.records.values())
    assert len(model.history) <= 2001 and len(model.curve_values) <= 1079


def test_sliding_max_is_the_max_of_the_last_span_values() -> None:
    peak, values = SlidingMax(4), [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0, 5.0]
    for n, value in enumerate(values, start=1):
        peak.add(value)
        assert peak.peak() == max(values[max(0, n - 4) : n])


def test_iqr_on_stepped_data_has_a_spread_floor_not_an_infinite_score() -> None:
    found = Detector("iqr", 3.0, 10)
    for i in range(200):
        found.observe(float(i), 2.0 if i % 50 else 3.0)  # the quartile box is empty: q1 == q3 == 2
    verdict = found.score(3.0)
    assert verdict.details["iqr"] == 0 and verdict.details["spread_floor"] > 0
    assert verdict.score is not None and math.isfinite(verdict.score)
    assert found.score(2.0).score == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [("refit_every", 0), ("training_window", 5), ("rest_span", 0), ("season_seconds", -1), ("baseline_span", 1)],
)
def test_bad_method_parameters_are_refused_naming_the_field(field: str, value: float) -> None:
    trigger = {"value_path": "cpu", "anomaly_method": "multiscale", "threshold": 1, field: value}
    with pytest.raises(RuleValidationError) as info:
        parse_rule({"name": "r", "trigger_type": "anomaly", "trigger_spec": trigger})
    assert [e.path for e in info.value.errors] == [f"trigger_spec.{field}"]


def test_a_rule_with_the_new_parameters_builds_its_detector_and_summary() -> None:
    trigger = {"value_path": "cpu", "anomaly_method": "hbos", "threshold": 1, "training_window": 300}
    spec = parse_rule({"name": "r", "trigger_type": "anomaly", "trigger_spec": trigger | {"refit_every": 50}})
    assert isinstance(spec.trigger_spec, AnomalyTrigger)
    found = detector_for(spec.trigger_spec, None)
    assert isinstance(found.model, PyodWindow)
    assert (found.model.training_window, found.model.refit_every) == (300, 50)
    assert summarize(spec) == "hbos(cpu, training_window=300, refit_every=50) > 1"
