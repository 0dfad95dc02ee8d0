"""Whether the pipeline has caught up: the instant up to which every stored event has been judged and recorded.

Judgements made outside the engine from the wall clock (the ACK SLA sweep) must not run ahead of the engine. After
a start, or behind a backlog, the shards may not have applied yet the ticks that resolve an event, and an event
that looks open in SQL may already be resolved in event time. This module tracks a **horizon**: an instant H such
that every event stored in CEP_EVENTS before H has been routed, evaluated with its timers run through H (a tick
at or after H applied after it), and every transition that produced has been recorded in SQL.

The gateway's shell takes a `Reading` of the positions now and then and calls `advance`. A candidate instant
moves through three phases, one per reading, each reading taken after the phase it closes was observed:

1. `routing`: opened at the reading's start with mark = the last CEP_EVENTS sequence; done once the router's
   consumer is past it (everything stored before the candidate is in CEP_WORK).
2. `evaluating`: mark = the last CEP_WORK sequence, `marked_at` = the end of that reading; done once every shard
   has done that sequence and applied a tick at or after `marked_at` (such a tick was published after the mark,
   so after all that work: its timers ran over every event in it). Shards publish a batch's alerts before they
   report it done.
3. `recording`: mark = the last CEP_ALERTS sequence; done once the recorder is past it. The horizon becomes the
   candidate's instant and the next reading opens a new candidate.

Pure: the shell reads the clock, NATS and the evaluator, this module only decides. Clocks of the gateway and the
evaluator are assumed synchronised (NTP); a skew of s seconds moves the horizon by s.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Phase = Literal["routing", "evaluating", "recording"]
StepReason = Literal["opened", "routing", "routed", "evaluating", "evaluated", "recording", "caught_up"]


@dataclass(frozen=True)
class Position:
    """A consumer's progress: `done` = the last stream sequence whose effects are durable (its ack floor, or a
    shard's done sequence); `pending` and `ack_pending` as JetStream counts them (None: unknown)."""

    done: int
    pending: int | None = None
    ack_pending: int | None = None

    def past(self, mark: int) -> bool:
        """Whether everything up to `mark` is done: by sequence, or nothing left to deliver nor to ack.

        The second form matters for consumers with a subject filter, whose ack floor stays below the marks of
        messages on other subjects; it is sound because the reading is taken after the mark was.
        """
        return self.done >= mark or (self.pending == 0 and self.ack_pending == 0)


@dataclass(frozen=True)
class ShardPosition(Position):
    """A shard's progress and its clock: the time of the latest tick whose output it has published (None: none)."""

    clock: datetime | None = None


@dataclass(frozen=True)
class Reading:
    """The pipeline's positions, read in this order between `started` and `finished` (the shell's wall clock)."""

    started: datetime
    events_last: int
    router: Position
    work_last: int
    shards: tuple[ShardPosition, ...]
    alerts_last: int
    recorder: Position
    finished: datetime


@dataclass(frozen=True)
class Candidate:
    """An instant on its way to becoming the horizon: the phase it is in and that phase's mark."""

    instant: datetime
    phase: Phase
    mark: int
    marked_at: datetime


@dataclass(frozen=True)
class CatchUp:
    """The horizon (None: not caught up since the start) and the candidate in progress."""

    horizon: datetime | None = None
    candidate: Candidate | None = None


@dataclass(frozen=True)
class Step:
    """What one reading did, and why: the reason is logged and shown on the gateway's status."""

    state: CatchUp
    reason: StepReason


def advance(state: CatchUp, reading: Reading) -> Step:
    """Move the candidate by at most one phase with this reading (see the module docstring)."""
    candidate = state.candidate
    if candidate is None:
        opened = Candidate(reading.started, "routing", reading.events_last, reading.started)
        return Step(CatchUp(state.horizon, opened), "opened")
    if candidate.phase == "routing":
        if not reading.router.past(candidate.mark):
            return Step(state, "routing")
        moved = Candidate(candidate.instant, "evaluating", reading.work_last, reading.finished)
        return Step(CatchUp(state.horizon, moved), "routed")
    if candidate.phase == "evaluating":
        if not _evaluated(reading.shards, candidate):
            return Step(state, "evaluating")
        moved = Candidate(candidate.instant, "recording", reading.alerts_last, reading.finished)
        return Step(CatchUp(state.horizon, moved), "evaluated")
    if not reading.recorder.past(candidate.mark):
        return Step(state, "recording")
    horizon = candidate.instant if state.horizon is None else max(state.horizon, candidate.instant)
    return Step(CatchUp(horizon, None), "caught_up")


def _evaluated(shards: tuple[ShardPosition, ...], candidate: Candidate) -> bool:
    """Every shard has done the work mark and applied a tick at or after the mark's time (no shards: not yet)."""
    return bool(shards) and all(
        shard.past(candidate.mark) and shard.clock is not None and shard.clock >= candidate.marked_at
        for shard in shards
    )
