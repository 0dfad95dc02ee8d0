"""The catch-up horizon: a candidate instant moves through routing, evaluating and recording, one reading each."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.common.domain.lifecycle.catch_up import (
    Candidate,
    CatchUp,
    Position,
    Reading,
    ShardPosition,
    advance,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
S = timedelta(seconds=1)
BUSY = Position(done=0, pending=5, ack_pending=1)


def reading(at: datetime, **changes: object) -> Reading:
    """A reading at `at` (taking 0.2 s) of a pipeline with work everywhere and shards at the tick of `at`."""
    base = Reading(
        started=at,
        events_last=100,
        router=BUSY,
        work_last=40,
        shards=(ShardPosition(0, 3, 0, at), ShardPosition(0, 3, 0, at)),
        alerts_last=70,
        recorder=BUSY,
        finished=at + 0.2 * S,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def shards(done: int, clock: datetime | None, pending: int | None = 3) -> tuple[ShardPosition, ...]:
    return (ShardPosition(done, pending, 0, clock), ShardPosition(done, pending, 0, clock))


def test_a_candidate_becomes_the_horizon_after_each_phase_in_turn() -> None:
    step = advance(CatchUp(), reading(T0))
    assert step.reason == "opened"
    assert step.state.candidate == Candidate(T0, "routing", 100, T0)

    step = advance(step.state, reading(T0 + S, router=Position(99)))
    assert step.reason == "routing"  # sequence 100 is not routed yet
    step = advance(step.state, reading(T0 + 2 * S, router=Position(100), work_last=44))
    assert (step.reason, step.state.candidate) == ("routed", Candidate(T0, "evaluating", 44, T0 + 2.2 * S))

    # Work done through 44 but the latest tick is older than the mark: its timers did not run over that work.
    step = advance(step.state, reading(T0 + 3 * S, shards=shards(44, T0 + 2 * S)))
    assert step.reason == "evaluating"
    step = advance(step.state, reading(T0 + 4 * S, shards=shards(43, T0 + 4 * S)))
    assert step.reason == "evaluating"  # a tick late enough, the work not done
    step = advance(step.state, reading(T0 + 5 * S, shards=shards(45, T0 + 5 * S), alerts_last=80))
    assert (step.reason, step.state.candidate) == ("evaluated", Candidate(T0, "recording", 80, T0 + 5.2 * S))
    assert step.state.horizon is None

    step = advance(step.state, reading(T0 + 6 * S, recorder=Position(79, 1, 0)))
    assert step.reason == "recording"
    step = advance(step.state, reading(T0 + 7 * S, recorder=Position(80)))
    assert step.reason == "caught_up"
    assert step.state == CatchUp(T0, None)  # the candidate's instant, not the reading's

    step = advance(step.state, reading(T0 + 8 * S))
    assert (step.reason, step.state) == ("opened", CatchUp(T0, Candidate(T0 + 8 * S, "routing", 100, T0 + 8 * S)))


def test_a_consumer_with_nothing_pending_is_past_any_mark() -> None:
    """Filtered consumers (a shard's) keep an ack floor below marks on other subjects."""
    assert Position(3, 0, 0).past(100)
    assert not Position(3, 0, 1).past(100)
    assert not Position(3, None, None).past(100)  # unknown counts: only the sequence decides
    assert Position(100, None, None).past(100)


@pytest.mark.parametrize(
    "fleet",
    [
        (),  # no shard known: nothing has been evaluated
        (ShardPosition(50, 0, 0, T0 + 9 * S), ShardPosition(50, 0, 0, None)),  # one shard has applied no tick
        (ShardPosition(50, 0, 0, T0 + 9 * S), ShardPosition(10, 2, 0, T0 + 9 * S)),  # one shard behind
    ],
)
def test_every_shard_must_have_evaluated(fleet: tuple[ShardPosition, ...]) -> None:
    evaluating = CatchUp(None, Candidate(T0, "evaluating", 44, T0 + S))
    assert advance(evaluating, reading(T0 + 10 * S, shards=fleet)).reason == "evaluating"


def test_the_horizon_never_moves_back() -> None:
    recording = CatchUp(T0 + 60 * S, Candidate(T0, "recording", 5, T0))
    assert advance(recording, reading(T0 + 61 * S, recorder=Position(5))).state.horizon == T0 + 60 * S
