"""CEP_SHARD_GC_THRESHOLD: the young-generation threshold a shard process sets (services/evaluator/collector.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from services.evaluator.collector import DEFAULT_GC_THRESHOLD, MAX_GC_THRESHOLD, tune_collector
from services.evaluator.settings import EvaluatorSettings


@pytest.fixture
def thresholds() -> Iterator[tuple[int, int, int]]:
    """The test process's thresholds, put back afterwards."""
    before = gc.get_threshold()
    yield before
    gc.set_threshold(*before)


def test_the_setting_defaults_bounds_and_reaches_the_shard_options(monkeypatch: pytest.MonkeyPatch) -> None:
    assert EvaluatorSettings().shard_options().gc_threshold == DEFAULT_GC_THRESHOLD == 20_000
    monkeypatch.setenv("CEP_SHARD_GC_THRESHOLD", "0")
    assert EvaluatorSettings().shard_options().gc_threshold == 0
    for bad in ("-1", str(MAX_GC_THRESHOLD + 1), "many"):
        monkeypatch.setenv("CEP_SHARD_GC_THRESHOLD", bad)
        with pytest.raises(ValidationError, match="shard_gc_threshold"):
            EvaluatorSettings()


def test_the_young_generation_threshold_is_set_and_the_older_ones_kept(thresholds: tuple[int, int, int]) -> None:
    gc.set_threshold(700, 11, 12)
    assert tune_collector(20_000) == (700, 11, 12)
    assert gc.get_threshold() == (20_000, 11, 12)


def test_zero_leaves_pythons_setting(thresholds: tuple[int, int, int]) -> None:
    gc.set_threshold(700, 10, 10)
    assert tune_collector(0) == (700, 10, 10)
    assert gc.get_threshold() == (700, 10, 10)
