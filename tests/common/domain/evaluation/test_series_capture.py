"""A capture taken now and finished later (a shard encodes it off its lock) is the snapshot of its moment, however
the engine's series move in between; and what it encoded is cached only while still true."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.common.domain.evaluation.compiled.engine import CompiledEngine
from services.common.domain.evaluation.rule_engine import RuleEngine
from services.common.domain.events.model import Event
from tests.common.domain.kit import event, make_rule, metric

RULES = [
    make_rule(metric("cpu", ">", 50, aggregation="avg", window="1m", group_by=["host"]), "windowed"),
    make_rule(metric("cpu", ">", 50, group_by=["host"]), "plain"),
    make_rule(metric("cpu", ">", 50, aggregation="p95", window="1m", group_by=["host"]), "sorted-window"),
]
BEFORE = [event(0, {"cpu": 60, "host": "a"}), event(10, {"cpu": 70, "host": "a"}), event(10, {"cpu": 10, "host": "b"})]
# after the capture: host a's open episodes count a sample and its windows take it, then its plain rule resolves;
# host b's series fire
AFTER = [event(20, {"cpu": 80, "host": "a"}), event(30, {"cpu": 5, "host": "a"}), event(30, {"cpu": 90, "host": "b"})]


def _engines(*kinds: type[RuleEngine]) -> list[RuleEngine]:
    engines = [kind() for kind in kinds]
    for engine in engines:
        for rule in RULES:
            engine.upsert_rule(rule)
    return engines


def _feed(engines: Sequence[RuleEngine], events: list[Event]) -> list[list[dict[str, Any]]]:
    return [[t.as_dict() for t in engine.on_events(events)] for engine in engines]


def test_a_snapshot_finished_after_more_events_is_the_snapshot_of_its_moment() -> None:
    compiled, reference = _engines(CompiledEngine, RuleEngine)
    fired = _feed([compiled, reference], BEFORE)
    assert fired[0] == fired[1] and len(fired[0]) == 3  # host a's three series fire
    capture = compiled.capture_snapshot()
    assert capture.later  # the threshold series with a running window or none are frozen, not encoded yet
    then = reference.snapshot()
    moved = _feed([compiled, reference], AFTER)
    assert moved[0] == moved[1] and moved[0]
    assert capture.finish() == then
    compiled.remember(capture)  # every series it froze has moved since: nothing of it may be cached
    assert compiled.snapshot() == reference.snapshot()


def test_changes_finished_later_are_the_changes_of_their_moment() -> None:
    compiled, twin = _engines(CompiledEngine, CompiledEngine)
    _feed([compiled, twin], BEFORE[:1])
    compiled.snapshot(), twin.snapshot()
    _feed([compiled, twin], BEFORE[1:])
    capture = compiled.capture_changes()
    expected = twin.changes()
    _feed([compiled], AFTER)
    assert capture.finish() == expected
    compiled.remember(capture)
    _feed([twin], AFTER)
    assert compiled.changes() == twin.changes()


def test_what_a_finished_capture_encoded_is_cached_for_series_left_alone() -> None:
    compiled, reference = _engines(CompiledEngine, RuleEngine)
    _feed([compiled, reference], BEFORE)
    capture = compiled.capture_snapshot()
    capture.finish()
    compiled.remember(capture)
    _feed([compiled, reference], [event(20, {"cpu": 1, "host": "c"})])  # host a and b's series are left alone
    later = compiled.capture_snapshot()
    assert later.later == [] or all(key == "host=c" for _, _, key, _ in later.later)
    assert later.finish() == reference.snapshot()


def test_an_older_capture_finished_after_a_newer_one_was_taken_caches_nothing() -> None:
    compiled, reference = _engines(CompiledEngine, RuleEngine)
    _feed([compiled, reference], BEFORE)
    older = compiled.capture_snapshot()
    _feed([compiled, reference], AFTER)
    newer = compiled.capture_snapshot()  # clears the changes: host a and b's series look left alone since
    older.finish()
    compiled.remember(older)  # their encodings in it are stale
    assert compiled.snapshot() == reference.snapshot()
    assert newer.finish() == reference.snapshot()
