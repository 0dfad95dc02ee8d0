"""The shard's refit pool: refits on its own threads, metered (refits, seconds fitting, hot-path waits), exported."""

from __future__ import annotations

import json
import math
import threading
from concurrent.futures import TimeoutError as FutureTimeout

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from services.common.domain.evaluation.rule_engine import RuleEngine
from services.common.domain.events.model import Event
from services.evaluator.metrics import ShardCollector, ShardCounters
from services.evaluator.processor import Output, ShardState
from services.evaluator.refit_pool import RefitPool
from services.evaluator.work import EventWork
from tests.common.domain.kit import HBOS_REFITTING
from tests.evaluator.kit import at, make_rule

HBOS = HBOS_REFITTING


def test_a_refit_runs_on_a_pool_thread_and_its_cost_is_counted() -> None:
    pool = RefitPool(1)
    future = pool.submit(threading.current_thread)
    assert future.result() is not threading.current_thread()
    failing = pool.submit(lambda: 1 / 0)
    assert isinstance(failing.exception(), ZeroDivisionError)  # handed to whoever waits, counted all the same
    pool.shutdown()
    figures = pool.figures()
    assert figures.refits == 2 and figures.refit_seconds > 0


def test_waiting_for_a_refit_that_is_not_done_counts_as_hot_path_time() -> None:
    pool, go = RefitPool(1), threading.Event()
    future = pool.submit(lambda: go.wait() and "model")
    with pytest.raises(FutureTimeout):
        future.result(timeout=0.01)  # the refit cannot finish before `go`: this wait is certain
    go.set()
    pool.shutdown()
    assert future.result() == "model"  # done by now: no wait
    figures = pool.figures()
    assert (figures.refits, figures.refit_waits) == (1, 1) and figures.refit_wait_seconds > 0


def events(count: int) -> list[EventWork]:
    values = [50 + 8 * math.sin(n / 6) + (n * 37 % 7) / 3 + (45 if n % 70 == 69 else 0) for n in range(count)]
    return [EventWork(n, Event(f"e{n}", "acme", at(n), {"v": v})) for n, v in enumerate(values)]


def test_a_shard_state_refits_on_its_pool_and_a_restore_in_the_middle_gives_the_inline_alerts() -> None:
    rule = make_rule(HBOS, "r")
    inline = RuleEngine()
    inline.upsert_rule(rule)
    work = events(300)
    expected = inline.on_events([item.event for item in work])
    assert len(expected) >= 4
    pool = RefitPool(2)
    state, out = ShardState.from_rules([rule], pool), Output()
    assert state.engine.executor is pool
    for item in work[:150]:
        state.run([item], out)
    _, engine = state.snapshot()
    restored = ShardState.restore(json.loads(json.dumps(engine)), [rule], pool)
    for item in work[150:]:
        restored.run([item], out)
    pool.shutdown()
    assert [transition for transition, _ in out.alerts] == expected
    figures = restored.refit_figures()
    assert figures["refits"] >= 12 and figures["refit_seconds"] > 0  # 300 samples: a refit every 20 after 30
    assert restored.engine.anomaly_status("r")["keys"][""]["baseline"]["refits"] >= 6  # since the restore


def test_refit_figures_travel_in_the_status_and_are_exported_as_counters() -> None:
    counters = ShardCounters()
    counters.observe_batch(0.002, 10, [])
    figures = {"refits": 8, "refit_seconds": 0.5, "refit_waits": 1, "refit_wait_seconds": 0.25}
    status = {"shard": 0, "incarnation": "a", "counters": counters.as_dict() | figures}
    older = {"shard": 1, "incarnation": "b", "counters": counters.as_dict()}  # an actor without refit figures
    for key in figures:
        del older["counters"][key]
    collector = ShardCollector()
    registry = CollectorRegistry()
    registry.register(collector)
    collector.update([status, older])
    collector.update([{**status, "incarnation": "c"}])  # shard 0 restarted: the old figures stay in the totals
    total = collector.totals()
    assert (total.refits, total.refit_seconds, total.refit_waits, total.refit_wait_seconds) == (16, 1.0, 2, 0.5)
    assert ShardCounters.from_dict(total.as_dict()) == total
    text = generate_latest(registry).decode()
    for line in (
        "cep_eval_refits_total 16.0",
        "cep_eval_refit_seconds_total 1.0",
        "cep_eval_refit_waits_total 2.0",
        "cep_eval_refit_wait_seconds_total 0.5",
    ):
        assert line in text
