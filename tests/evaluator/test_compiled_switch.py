"""Shards run the compiled engine, fresh and restored from a snapshot, with the reference's transitions."""

from __future__ import annotations

import json

from services.common.domain.evaluation.compiled.engine import CompiledEngine
from services.common.domain.evaluation.rule_engine import RuleEngine
from services.evaluator.processor import Output, ShardState
from services.evaluator.work import EventWork
from tests.common.domain.kit import event, make_rule, metric

RULES = [make_rule(metric("cpu", ">", 5, group_by=["host"], resolve_after="1m"), "hot")]


def test_a_shard_builds_and_restores_the_compiled_engine() -> None:
    state = ShardState.from_rules(RULES)
    assert type(state.engine) is CompiledEngine
    _rules, engine = state.snapshot()
    restored = ShardState.restore(json.loads(json.dumps(engine)), RULES)
    assert type(restored.engine) is CompiledEngine


def test_a_shard_publishes_what_the_reference_engine_would() -> None:
    events = [event(0, {"cpu": 9, "host": "a"}), event(10, {"cpu": 7, "host": "a"}), event(20, {"cpu": 1, "host": "a"})]
    out = Output()
    ShardState.from_rules(RULES).run([EventWork(seq, item) for seq, item in enumerate(events, 1)], out)
    reference = RuleEngine()
    reference.upsert_rule(RULES[0])
    assert [t.as_dict() for t, _ in out.alerts] == [t.as_dict() for t in reference.on_events(events)]
    assert [t.kind for t, _ in out.alerts] == ["fired", "resolved"]
