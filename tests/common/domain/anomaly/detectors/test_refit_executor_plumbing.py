"""The engine hands its refit executor to every anomaly rule's model: refits leave the caller, the alerts do not change.

An hbos rule streamed through a `RuleEngine` whose refits run on a real, slowed-down thread pool gives exactly the
transitions and scores of inline refits, also when the engine is snapshotted while a refit is in flight and
restored onto a fresh pool.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from services.common.domain.evaluation.rule_engine import RuleEngine
from services.common.domain.events.model import Event
from services.common.domain.lifecycle.transitions import Transition
from services.common.domain.rules.model import Rule
from tests.common.domain.kit import BY_HOST, event, make_rule

HBOS = BY_HOST


class SlowPool:
    """A real thread pool whose refits take a while and record the thread they ran on."""

    def __init__(self, pool: ThreadPoolExecutor, delay: float = 0.003) -> None:
        self.pool, self.delay = pool, delay
        self.threads: set[str] = set()
        self.lock = threading.Lock()

    def submit(self, fn: Callable[[], Any], /) -> Future[Any]:
        def slow() -> Any:
            time.sleep(self.delay)
            with self.lock:
                self.threads.add(threading.current_thread().name)
            return fn()

        return self.pool.submit(slow)


def series(count: int) -> list[Event]:
    """Two hosts, a wave each, and a spike now and then (so that episodes open and resolve)."""
    out = []
    for n in range(count):
        for host, phase in (("a", 0.0), ("b", 1.0)):
            value = 50 + 8 * math.sin(n / 6 + phase) + (n * 37 % 7) / 3 + (45 if n % 70 == 69 else 0)
            out.append(event(n, {"v": value, "host": host}))
    return out


def scores(engine: RuleEngine) -> dict[str, Any]:
    return {key: entry["last"] for key, entry in engine.anomaly_status("r1")["keys"].items()}


def stream(engine: RuleEngine, events: list[Event]) -> tuple[list[Transition], list[dict[str, Any]]]:
    """Feed the events in batches of 4; the transitions, and every key's latest verdict after each batch."""
    transitions, verdicts = [], []
    for start in range(0, len(events), 4):
        transitions += engine.on_events(events[start : start + 4])
        verdicts.append(scores(engine))
    return transitions, verdicts


def rule() -> Rule:
    return make_rule(HBOS)


def test_refits_on_a_thread_pool_give_the_inline_transitions_and_scores() -> None:
    events = series(240)
    inline = RuleEngine()
    inline.upsert_rule(rule())
    expected = stream(inline, events)
    with ThreadPoolExecutor(2, thread_name_prefix="refit-test") as threads:
        pool = SlowPool(threads)
        threaded = RuleEngine(pool)
        threaded.upsert_rule(rule())
        assert stream(threaded, events) == expected
    assert expected[0], "the series must open episodes, or the comparison says little"
    assert pool.threads and all(name.startswith("refit-test") for name in pool.threads)  # not the caller's thread
    assert threaded.anomaly_status("r1")["keys"]["host=a"]["baseline"]["refits"] > 5


def test_a_snapshot_taken_while_a_refit_is_in_flight_restores_onto_a_new_pool_with_the_same_alerts() -> None:
    events = series(240)
    inline = RuleEngine()
    inline.upsert_rule(rule())
    expected_transitions, expected_verdicts = stream(inline, events)
    cut = 2 * 102  # sample 102 of each host (a batch boundary): a refit started at sample 100 is due at 106
    with ThreadPoolExecutor(2) as first:
        before = RuleEngine(SlowPool(first, delay=0.05))
        before.upsert_rule(rule())
        head = stream(before, events[:cut])
        snapshot = json.loads(json.dumps(before.snapshot()))
    pending = [s["detector"]["pending"] for s in snapshot["rules"]["r1"]["series"].values()]
    assert all(p is not None and p["due"] == 106 for p in pending)  # the cut is mid-refit for both keys
    with ThreadPoolExecutor(2) as second:
        after = RuleEngine.restore(snapshot, [rule()], SlowPool(second))
        tail = stream(after, events[cut:])
    assert head[0] + tail[0] == expected_transitions
    assert head[1] + tail[1] == expected_verdicts
