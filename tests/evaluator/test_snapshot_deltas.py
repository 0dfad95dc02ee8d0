"""Incremental snapshots: a base and the deltas after it, applied in order, give exactly the full snapshot a
capture at the last delta's sequence would have given, on random input (events, ticks, rule changes and removals,
captures at random points), and a shard state restored from them equals one restored from that full snapshot."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from services.common.messages import codec
from services.evaluator import snapshot_rebase
from services.evaluator.processor import Output, ShardState
from services.evaluator.settings import EvaluatorSettings
from services.evaluator.snapshot_bodies import ShardDelta, ShardSnapshot
from services.evaluator.snapshot_rebase import rebase, rebase_in_child
from services.evaluator.work import EventWork, RawDone, RuleWork, TickWork, Work
from tests.common.domain.kit import at, event, make_rule, metric
from tests.evaluator.kit import change

HOSTS = 6
DEPLOY = {"event_type": "deploy", "group_by": ["host"], "resolve_after": "20s"}


def done_at(seq: int) -> RawDone:
    """The raw positions applied once the event at raw sequence `seq` is (every event here is acme's)."""
    return RawDone(tenants={"acme": (seq, 0)})


def rule_of(kind: int, variant: int, version: int, active: bool) -> Any:
    """One of four rules in one of three variants: variant 2 changes only the name (series kept), 1 the trigger."""
    threshold = 80 if variant == 1 else 60
    name = {"name": f"v{variant}"} if variant == 2 else {}
    bodies = [
        metric("cpu", threshold=threshold, aggregation="avg", window="1m", group_by=["host"], duration="10s"),
        metric("cpu", threshold=threshold, group_by=["host"]),  # the compiled engine's quick path
        metric("mem", threshold=threshold, group_by=["host"], resolve_after="15s"),
        {"trigger_type": "event", "trigger_spec": DEPLOY | {"resolve_after": f"{20 + variant}s"}},
    ]
    rule = make_rule(bodies[kind] | name, f"rule-{kind}", active=active, version=version)
    return rule


OPS = st.one_of(
    st.tuples(st.just("cpu"), st.integers(0, HOSTS - 1), st.integers(0, 100)),
    st.tuples(st.just("mem"), st.integers(0, HOSTS - 1), st.integers(0, 100)),
    st.tuples(st.just("deploy"), st.integers(0, HOSTS - 1), st.just(0)),
    st.tuples(st.just("tick"), st.just(0), st.just(0)),
    st.tuples(st.just("rule"), st.integers(0, 3), st.integers(0, 5)),
    st.tuples(st.just("delete"), st.integers(0, 3), st.just(0)),
    st.tuples(st.just("capture"), st.just(0), st.just(0)),
)


def fresh_engine(state: ShardState) -> dict[str, Any]:
    """The engine's snapshot encoded afresh from its live series (no cached series snapshot is trusted)."""
    engine = state.engine
    rules = {
        rule_id: {
            "semantics": engine._plans[rule_id].semantics,
            "series": {key: series.snapshot() for key, series in sorted(engine._series[rule_id].items())},
        }
        for rule_id in sorted(engine._series)
    }
    return {"format": 1, "rules": rules}


class Run:
    """A shard state fed random work, capturing a base then deltas as a shard does."""

    def __init__(self) -> None:
        self.state = ShardState.from_rules([rule_of(kind, 0, 1, True) for kind in range(4)])
        self.seq, self.seconds, self.versions = 0, 0.0, dict.fromkeys(range(4), 1)
        rules, engine = self.state.snapshot()
        self.base = ShardSnapshot.decode(ShardSnapshot(0, rules, engine).json())
        self.deltas: list[bytes] = []
        self.captured = 0

    def apply(self, op: tuple[str, int, int]) -> None:
        name, a, b = op
        if name == "capture":
            self.capture()
            return
        self.seq += 1
        self.seconds += 3
        item: Work
        if name in ("cpu", "mem"):
            item = EventWork(
                self.seq,
                event(self.seconds, {name: float(b), "host": f"h{a}"}),
                raw=(self.seq, 0),
            )
        elif name == "deploy":
            item = EventWork(self.seq, event(self.seconds, {"host": f"h{a}"}, "deploy"), raw=(self.seq, 0))
        elif name == "tick":
            item = TickWork(self.seq, at(self.seconds))
        else:
            self.versions[a] += 1
            rule = rule_of(a, b % 3, self.versions[a], active=b < 5)
            item = RuleWork(self.seq, change(rule, "delete" if name == "delete" else "upsert"), rule)
        self.state.run([item], Output())

    def capture(self) -> None:
        rules, engine = self.state.changes()
        self.deltas.append(ShardDelta(self.seq, self.captured, rules, engine, done_at(self.seq)).json())
        self.captured = self.seq

    def restored(self) -> ShardSnapshot:
        snapshot = self.base
        for data in self.deltas:
            snapshot = ShardDelta.decode(data).apply_to(snapshot)
        return snapshot.in_order()


def run_of(ops: list[tuple[str, int, int]]) -> Run:
    """A `Run` that has applied `ops` (captures among them)."""
    run = Run()
    for op in ops:
        run.apply(op)
    return run


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(OPS, min_size=20, max_size=120))
@example([("cpu", 0, 50), ("capture", 0, 0), ("cpu", 0, 60), ("cpu", 0, 70)])  # a quick series changed in place
def test_a_base_and_its_deltas_equal_the_full_snapshot(ops: list[tuple[str, int, int]]) -> None:
    run = Run()
    for op in ops:
        run.apply(op)
    run.capture()
    rules = [rule.canonical() for rule in run.state.engine.rules()]
    expected = ShardSnapshot(run.seq, rules, fresh_engine(run.state), done_at(run.seq))
    assert run.restored().json() == expected.json()
    full = ShardSnapshot(run.seq, *run.state.snapshot(), done_at(run.seq))
    assert codec.loads(full.json()) == codec.loads(expected.json())  # the cached full capture agrees
    again = ShardState.restore(run.restored().engine, run.restored().rule_models())
    assert codec.dumps(again.snapshot()) == codec.dumps(ShardState.restore(full.engine, full.rule_models()).snapshot())


def test_a_capture_holds_only_what_changed() -> None:
    run = Run()
    for n in range(HOSTS):
        run.apply(("cpu", n, 50))
    run.capture()
    run.apply(("cpu", 2, 70))
    rules, engine = run.state.changes()
    assert rules == {}
    changed = {rule_id: sorted(entry["series"]) for rule_id, entry in engine["rules"].items()}
    assert changed == {"rule-0": ["host=h2"], "rule-1": ["host=h2"]}  # one host of six, in the two cpu rules
    run.apply(("delete", 1, 0))
    rules, engine = run.state.changes()
    assert rules == {"rule-1": None} and engine["rules"] == {"rule-1": None}


def test_a_delta_that_does_not_follow_the_snapshot_is_refused() -> None:
    run = Run()
    run.apply(("cpu", 0, 50))
    run.capture()
    run.apply(("cpu", 0, 60))
    run.capture()
    delta = ShardDelta.decode(run.deltas[1])
    try:
        delta.apply_to(run.base)
    except ValueError as exc:
        assert "does not follow" in str(exc)
    else:
        raise AssertionError("a delta applied to a snapshot it does not follow")


def test_a_new_base_is_the_stored_base_with_the_deltas_applied() -> None:
    run = run_of([("cpu", 0, 50), ("capture", 0, 0), ("cpu", 1, 90), ("delete", 3, 0), ("capture", 0, 0)])
    base = rebase(run.base.encode(), run.deltas)  # what a shard writes off the lock once the deltas weigh enough
    assert ShardSnapshot.decode(base).json() == ShardSnapshot(run.seq, *run.state.snapshot(), done_at(run.seq)).json()


async def test_the_new_base_is_built_in_a_child_process(caplog: pytest.LogCaptureFixture) -> None:
    run = run_of(
        [("cpu", 0, 50), ("capture", 0, 0), ("cpu", 1, 90), ("capture", 0, 0), ("cpu", 2, 70), ("capture", 0, 0)]
    )
    caplog.set_level(logging.WARNING, logger="services.evaluator.snapshot_rebase")
    built = await rebase_in_child(run.base.encode(), run.deltas, min_bytes=0)
    assert built == rebase(run.base.encode(), run.deltas)
    fallbacks = [r for r in caplog.records if r.name == "services.evaluator.snapshot_rebase"]
    assert fallbacks == []  # the child built it: no fallback to a thread (other loggers: other tests' NATS clients)
    with pytest.raises(ValueError, match="does not follow"):  # a broken chain: the child fails, the thread says why
        await rebase_in_child(run.base.encode(), run.deltas[1:], min_bytes=0)
    assert "snapshot rebase process failed" in caplog.text


async def test_a_child_past_its_time_is_killed_and_the_base_built_in_a_thread(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = run_of([("cpu", 0, 50), ("capture", 0, 0), ("cpu", 1, 90), ("capture", 0, 0)])
    monkeypatch.setattr(snapshot_rebase, "CHILD_TIMEOUT", 0.001)
    built = await rebase_in_child(run.base.encode(), run.deltas, min_bytes=0)
    assert built == rebase(run.base.encode(), run.deltas)
    assert "snapshot rebase process did not finish" in caplog.text


async def test_a_small_chain_is_rebased_in_a_thread_without_a_child(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = run_of([("cpu", 0, 50), ("capture", 0, 0), ("cpu", 1, 90), ("capture", 0, 0)])

    async def no_child(*args: Any, **kwargs: Any) -> Any:
        raise OSError("no child may start for a small chain")

    monkeypatch.setattr(asyncio, "create_subprocess_exec", no_child)
    built = await rebase_in_child(run.base.encode(), run.deltas)  # far below CHILD_MIN_BYTES
    assert built == rebase(run.base.encode(), run.deltas)
    assert "did not start" not in caplog.text


def test_the_snapshot_chain_settings_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CEP_SNAPSHOT_DELTA_RATIO", "0.25")
    monkeypatch.setenv("CEP_SNAPSHOT_MAX_DELTAS", "7")
    options = EvaluatorSettings().shard_options()
    assert (options.delta_ratio, options.max_deltas) == (0.25, 7)
    monkeypatch.setenv("CEP_SNAPSHOT_DELTA_RATIO", "0")
    with pytest.raises(ValidationError, match="snapshot_delta_ratio"):
        EvaluatorSettings()
