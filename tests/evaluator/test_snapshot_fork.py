"""Snapshots captured in a forked child (snapshot_fork.py): the child's deltas, taken while the parent goes on
evaluating, chain into exactly the full snapshot of the end, on random input; a child that fails is reported, and
the parent, which forgot its changes at the fork, still gives a whole base in process."""

from __future__ import annotations

import asyncio
import os

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from services.evaluator.snapshot_bodies import ShardSnapshot
from services.evaluator.snapshot_capture import Captured, capture_full
from services.evaluator.snapshot_fork import Forked, ForkFailed, can_fork, collect, fork_capture
from tests.evaluator.test_snapshot_deltas import OPS, Run, done_at, fresh_engine

pytestmark = pytest.mark.skipif(not can_fork(), reason="no os.fork on this platform")


class ForkedRun(Run):
    """A `Run` whose captures are forked, and collected only at the next capture: the parent evaluates more work
    between the fork and the child's answer, as a shard does."""

    def __init__(self, ratio: float = 10.0) -> None:
        super().__init__()
        self.ratio = ratio
        self.forked: Forked | None = None
        self.bases = 0

    def capture(self) -> None:
        self.collect()
        self.forked = fork_capture(self.state, self.seq, self.captured, done_at(self.seq), self.ratio)
        self.captured = self.seq

    def collect(self) -> None:
        if self.forked is None:
            return
        captured = asyncio.run(collect(self.forked))
        self.forked = None
        if captured is None:
            return
        if captured.base:
            self.base, self.deltas, self.bases = ShardSnapshot.decode(captured.built()), [], self.bases + 1
        else:
            self.deltas.append(captured.built())


def _full_now(run: Run) -> bytes:
    rules = [rule.canonical() for rule in run.state.engine.rules()]
    return ShardSnapshot(run.seq, rules, fresh_engine(run.state), done_at(run.seq)).json()


def _check(ops: list[tuple[str, int, int]]) -> None:
    run = ForkedRun()
    for op in ops:
        run.apply(op)
    run.capture()
    run.collect()
    assert run.restored().json() == _full_now(run)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(OPS, min_size=20, max_size=100))
@example([("cpu", 0, 50), ("capture", 0, 0), ("cpu", 0, 60), ("cpu", 0, 70), ("capture", 0, 0)])
def test_forked_deltas_taken_while_the_parent_goes_on_chain_into_the_full_snapshot(
    ops: list[tuple[str, int, int]],
) -> None:
    _check(ops)


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(OPS, min_size=20, max_size=100))
@example([("cpu", 0, 50), ("capture", 0, 0), ("cpu", 0, 60), ("cpu", 0, 70), ("capture", 0, 0)])
def test_forked_deltas_taken_while_the_parent_goes_on_chain_into_the_full_snapshot_at_length(
    ops: list[tuple[str, int, int]],
) -> None:
    _check(ops)


def test_a_child_takes_a_whole_base_when_most_series_moved() -> None:
    run = ForkedRun(ratio=0.1)
    for host in range(4):
        run.apply(("cpu", host, 90))
    run.capture()
    forked = run.forked
    run.collect()
    assert run.bases == 1 and run.deltas == []
    assert run.base.in_order().json() == _full_now(run)
    # what the child cost, as the kernel counted it when it was reaped
    assert forked is not None and forked.usage is not None
    assert forked.usage.cpu_seconds >= 0.0 and forked.usage.faulted_bytes > 0
    assert forked.usage.max_rss_bytes >= forked.usage.faulted_bytes


def test_a_failed_child_is_reported_and_a_whole_base_follows_in_process() -> None:
    run = Run()
    for host in range(4):
        run.apply(("cpu", host, 90))
    run.state.snapshot()  # in process: the parent caches every series' encoding
    run.apply(("cpu", 0, 95))  # host 0's series move in place (the compiled engine's quick path)
    forked = fork_capture(run.state, run.seq, 0, done_at(run.seq), 10.0, fail=True)
    run.apply(("cpu", 1, 10))  # the parent goes on: its changes since the fork are tracked afresh
    with pytest.raises(ForkFailed, match="without an answer"):
        asyncio.run(collect(forked))
    assert forked.usage is not None  # a failed child is reaped and its cost counted too
    # the changes before the fork went with the child: only a whole capture is complete
    captured: Captured = capture_full(run.state, run.seq, done_at(run.seq))
    assert captured.base and captured.built() == _full_now(run)  # no encoding cached before the fork is trusted


def test_a_child_that_does_not_answer_in_time_is_killed() -> None:
    run = Run()
    run.apply(("cpu", 0, 90))
    forked = fork_capture(run.state, run.seq, 0, done_at(run.seq), 10.0)
    with pytest.raises(ForkFailed, match="took over"):
        asyncio.run(collect(forked, timeout=0.0))
    assert forked.usage is not None  # killed, then reaped: no zombie is left
    with pytest.raises(ChildProcessError):
        os.waitpid(forked.pid, os.WNOHANG)
