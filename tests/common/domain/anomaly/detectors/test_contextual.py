"""The contextual method and its context memory: streaming, exact snapshots, bounded memory, broken sequences."""

from __future__ import annotations

import json
import random

from services.common.domain.anomaly.detectors import context_memory
from services.common.domain.anomaly.detectors.context_memory import CAPACITY, LEVELS, ORDERS, ContextMemory
from services.common.domain.anomaly.detectors.contextual import CONTEXT_WEIGHT, Contextual
from services.common.domain.anomaly.scoring import Detector
from services.common.domain.lifecycle.thresholds import detector_for
from services.common.domain.rules.model import parse_rule
from services.common.domain.rules.summary import summarize
from services.common.domain.rules.triggers import AnomalyTrigger

PATTERN = [0.0, 0.0, 5.0, 10.0, 5.0, 0.0, 0.0, 10.0]  # a repeating curve: every value is a normal value


def taught(values: list[float]) -> ContextMemory:
    memory = ContextMemory()
    memory.widen(min(values))
    memory.widen(max(values))
    memory.start(values[:6])
    for value in values[6:]:
        memory.learn(value)
    return memory


def test_levels_span_the_values_seen_with_one_level_below_and_one_at_the_top_and_above() -> None:
    memory = ContextMemory()
    memory.widen(0.0)
    memory.widen(float(LEVELS))  # one unit per level
    values = (-1.0, 0.0, 0.99, 1.0, LEVELS - 0.01, LEVELS, 100.0)
    assert [memory.level(v) for v in values] == [-1, 0, 0, 1, LEVELS - 1, LEVELS, LEVELS]


def test_a_known_sequence_is_no_surprise_a_new_level_is_a_full_one_and_a_broken_order_is_partial() -> None:
    memory = taught(PATTERN * 30 + [0.0, 0.0])  # ... 10, 0, 0: next has always been 5
    assert memory.surprise(5.0) == 0.0
    assert memory.surprise(-1000.0) == 1.0  # a level never seen after anything
    # 10 has followed 0 and 0, 0 (orders 1 and 2), never 10, 0, 0 (order 3 and longer): a partial surprise
    assert 0.0 < memory.surprise(10.0) < 1.0


def test_contextual_flags_a_broken_pattern_whose_values_are_all_normal() -> None:
    rng = random.Random(11)
    series = [v + rng.gauss(0, 0.3) for v in PATTERN * 150]  # noisy, so value statistics have a spread
    broken = [0.0, 0.0, 5.0, 5.0]  # the curve skips its peak: 5 after 5 never happened, yet 5 is a usual value
    found = Detector("contextual", 1.0, 50)
    verdicts = [found.observe(float(i), value) for i, value in enumerate(series + broken)]
    assert all(v.details["score_context"] < 1.0 for v in verdicts[-400:-1])  # the pattern holds no new step
    assert verdicts[-1].details["score_context"] == 1.0
    assert verdicts[-1].is_anomaly is True
    assert verdicts[-1].score is not None and verdicts[-1].score >= CONTEXT_WEIGHT


def test_a_restored_snapshot_of_a_started_memory_gives_identical_scores() -> None:
    rng = random.Random(7)
    values = [v + rng.gauss(0, 0.5) for v in PATTERN * 100] + [rng.uniform(-20, 30) for _ in range(200)]
    original = Detector("contextual", 1.0, 50, season_seconds=80)
    for i, value in enumerate(values[:700]):
        original.observe(float(i), value)
    assert isinstance(original.model, Contextual) and len(original.model.memory) > 0
    copy = Detector("contextual", 1.0, 50, season_seconds=80)
    copy.restore(json.loads(json.dumps(original.snapshot(), allow_nan=False)))
    for i, value in enumerate(values[700:], start=700):
        assert copy.observe(float(i), value).as_dict() == original.observe(float(i), value).as_dict()


def test_the_context_memory_forgets_the_least_recently_used_past_its_capacity() -> None:
    rng = random.Random(3)
    memory = ContextMemory()
    memory.widen(0.0)
    memory.widen(1.0)
    memory.start([0.5] * 6)
    steps = CAPACITY
    for _ in range(steps):  # random levels: most long (context, level) pairs are new
        memory.learn(rng.random())
    assert len(memory) == CAPACITY
    assert len(memory.levels) == max(ORDERS)
    recent = tuple(memory.levels)
    assert (*recent[-1:], context_memory._CONTEXT) in memory.counts  # the newest entries are kept


def test_a_rule_offers_contextual_with_multiscale_parameters() -> None:
    trigger = {"value_path": "cpu", "anomaly_method": "contextual", "threshold": 1, "rest_span": 50}
    spec = parse_rule({"name": "r", "trigger_type": "anomaly", "trigger_spec": trigger})
    assert isinstance(spec.trigger_spec, AnomalyTrigger)
    found = detector_for(spec.trigger_spec, None)
    assert isinstance(found.model, Contextual)
    assert found.model.onsets.span == 50
    assert summarize(spec) == "contextual(cpu, rest_span=50) > 1"


def test_values_at_the_ends_of_the_float_range_get_a_level_not_an_error() -> None:
    memory = ContextMemory()
    memory.widen(-1e308)
    memory.widen(1e308)  # the span overflows to infinity
    assert [memory.level(v) for v in (-1e308, 0.0, 1e308)] == [0, 0, 0]
    memory.start([-1e308, 1e308] * 3)
    memory.learn(1e308)
    assert 0.0 <= memory.surprise(-1e308) <= 1.0
