"""The pattern cap and lateness as settings: CEP_PATTERN_MAX_PARTIALS and CEP_PATTERN_LATENESS reach the shard's
engine, fresh or restored."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from services.common.domain.patterns.drops import PatternDrops
from services.common.domain.patterns.lateness import MAX_LATENESS_SECONDS
from services.common.domain.patterns.matcher import DEFAULT_MAX_PARTIALS_PER_KEY, MAX_PARTIALS_PER_KEY
from services.evaluator.pattern_drops import DropReports
from services.evaluator.processor import Output, ShardState
from services.evaluator.settings import EvaluatorSettings
from services.evaluator.work import EventWork
from tests.common.domain.kit import event, make_rule

RULE = {
    "trigger_type": "pattern",
    "trigger_spec": {
        "steps": [{"name": "fail", "event_type": "login.failed", "times": {"min": 9}}],
        "within": "2m",
        "same": ["user"],
    },
}


def test_the_setting_defaults_bounds_and_reaches_the_shard_options(monkeypatch: pytest.MonkeyPatch) -> None:
    assert EvaluatorSettings().shard_options().pattern_max_partials == DEFAULT_MAX_PARTIALS_PER_KEY
    monkeypatch.setenv("CEP_PATTERN_MAX_PARTIALS", "3")
    assert EvaluatorSettings().shard_options().pattern_max_partials == 3
    monkeypatch.setenv("CEP_PATTERN_MAX_PARTIALS", str(MAX_PARTIALS_PER_KEY + 1))
    with pytest.raises(ValidationError):
        EvaluatorSettings()


def test_a_shard_state_holds_the_cap_fresh_and_restored() -> None:
    rule = make_rule(RULE, "bf")
    state = ShardState.from_rules([rule], pattern_cap=3)
    out = Output()
    state.run([EventWork(n, event(n, {"user": "ann"}, "login.failed")) for n in range(5)], out)
    assert state.engine.pattern_counts["bf"]["dropped"] == 2
    _, engine = state.snapshot()
    restored = ShardState.restore(engine, [rule], pattern_cap=3)
    restored.run([EventWork(5, event(5, {"user": "ann"}, "login.failed"))], out)
    assert restored.engine.pattern_counts["bf"]["dropped"] == 1  # counted since the restore; the total is in letters


def test_a_batch_collects_the_drops_and_reports_go_out_at_most_once_a_period() -> None:
    state = ShardState.from_rules([make_rule(RULE, "bf")], pattern_cap=2)
    out = Output()
    state.run([EventWork(n, event(n, {"user": "ann"}, "login.failed")) for n in range(5)], out)
    assert [(d.rule_id, d.count, d.cap, d.last_key) for d in out.pattern_drops] == [("bf", 3, 2, "user=ann")]
    reports = DropReports(period=60)
    reports.add(out.pattern_drops)
    assert [d.count for d in reports.due(1000)] == [3]  # the first at once
    reports.add([PatternDrops("bf", "default", 2, 1, "user=bob"), PatternDrops("bf", "default", 2, 2, "user=cy")])
    assert reports.due(1030) == []
    assert [(d.count, d.last_key) for d in reports.due(1060)] == [(3, "user=cy")]


def test_the_lateness_setting_defaults_bounds_and_reaches_the_shard_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """CEP_PATTERN_LATENESS (seconds): 0 by default, at most 7 days; the shard's engine holds it, fresh or restored."""
    assert EvaluatorSettings().shard_options().pattern_lateness == 0
    monkeypatch.setenv("CEP_PATTERN_LATENESS", "10")
    options = EvaluatorSettings().shard_options()
    assert options.pattern_lateness_delta == timedelta(seconds=10)
    for bad in ("-1", str(MAX_LATENESS_SECONDS + 1)):
        monkeypatch.setenv("CEP_PATTERN_LATENESS", bad)
        with pytest.raises(ValidationError):
            EvaluatorSettings()
    rule = make_rule(RULE, "bf")
    state = ShardState.from_rules([rule], pattern_lateness=options.pattern_lateness_delta)
    out = Output()
    state.run([EventWork(1, event(30, {"user": "ann"}, "login.failed"))], out)
    state.run([EventWork(2, event(15, {"user": "ann"}, "login.failed"))], out)  # 15 s late: refused
    assert state.engine.pattern_counts["bf"]["late"] == 1
    _, engine = state.snapshot()
    restored = ShardState.restore(engine, [rule], pattern_lateness=options.pattern_lateness_delta)
    restored.run([EventWork(3, event(21, {"user": "ann"}, "login.failed"))], out)  # 9 s late: held
    assert restored.engine.pattern_counts.get("bf", {}).get("late", 0) == 0
