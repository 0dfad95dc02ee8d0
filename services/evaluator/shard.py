"""The shard actor: a thin Ray shell that pulls its work stream, drives the shard state and publishes alerts.

One consume task per actor, started by `start()` (never by `__init__`, so a restarted actor waits for the
driver). Per batch, in input order: decode, apply to the state under the lock in chunks (yielding to the
loop between them so acks and heartbeats flow), publish every transition and await its PubAck, ack the
input, then answer triggers. Snapshots record the stream sequence they cover; a restart restores the
snapshot and replays everything after it, so transitions are at most re-published with the same ids.

Longer than ~300 lines because the actor's state, its two locks and its recovery loop (resume, rewind,
snapshots) only make sense together; what stands alone already lives apart: work decoding (work.py), the
poison book (poison.py), the snapshot store (snapshots.py), dead letters and alert publishing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import ray
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.client import JetStreamContext

from services.common.domain.evaluation.sharding import Placement
from services.common.domain.events.model import format_time
from services.common.domain.lifecycle.transitions import Transition
from services.common.logs import configure_logging
from services.common.nats import bus
from services.common.nats.streams import ensure_streams
from services.common.tracing.setup import setup_tracing
from services.common.tracing.spans import end_span
from services.evaluator import memory_headroom
from services.evaluator.alert_publisher import publish_alerts
from services.evaluator.collector import tune_collector
from services.evaluator.dead_letters import (
    publish_rule_failures,
    report_pattern_drops,
    report_series_refused,
)
from services.evaluator.metrics import ShardCounters
from services.evaluator.options import ShardOptions
from services.evaluator.pattern_drops import DropReports
from services.evaluator.poison import PoisonBook
from services.evaluator.processor import Actions, Output, ShardState
from services.evaluator.quota_watch import BookLimits, RefusalReports, follow_quotas, quota_book, stop_following
from services.evaluator.shard_tracing import evaluate_span, event_traces
from services.evaluator.snapshot_bodies import compress
from services.evaluator.snapshot_capture import Captured, capture_delta, capture_full
from services.evaluator.snapshot_fork import Forked, ForkFailed, can_fork, collect, fork_capture
from services.evaluator.snapshot_rebase import rebase_in_child
from services.evaluator.snapshots import (
    SnapshotStore,
    SnapshotTooLarge,
    Superseded,
    owned_rules,
    part_size,
    snapshot_bucket,
)
from services.evaluator.work import (
    ItemId,
    RawDone,
    Work,
    WorkError,
    decode_message,
    fresh,
    item_id,
    steps,
)
from services.evaluator.work_consumer import OutOfOrder, ShardConsumer

log = logging.getLogger(__name__)

RETRY_SECONDS = 0.5
SNAPSHOT_COST_FACTOR = 20  # the next snapshot waits 20x the last one's encoding time on top of the interval
STOP_WAIT_SECONDS = 5.0
DELIVERY_POLL_SECONDS = 0.005  # how often a snapshot waiting for its batch's delivery looks again


class EngineFailure(RuntimeError):
    """The engine raised on a run of several events: which one is unknown, and the state may be half-applied."""


class DeliveryFailure(RuntimeError):
    """A batch's outputs could not all be delivered: the state is ahead of what was published."""


@dataclass(frozen=True)
class Evaluated:
    """A batch applied to the state, waiting for delivery: its input, outputs, and the position and clock after it."""

    msgs: list[Msg]
    broken: set[int]
    decoded: list[Work]
    poison: dict[ItemId, str]
    out: Output
    seq: int
    clock: datetime | None
    started: float


def set_niceness(niceness: int, shard: int) -> None:
    """Run this process at `niceness` (Ray's workers start at 15); without the right to, say so and go on.

    On Linux a nice value belongs to a thread, and new threads take their creator's: every thread there is now
    is set (the actor's event loop runs in one of Ray's), so the threads started later follow.
    """
    try:
        threads = [int(tid) for tid in os.listdir("/proc/self/task")]
    except OSError:
        threads = [0]  # no /proc: the calling thread
    try:
        for thread in threads:
            with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
                os.setpriority(os.PRIO_PROCESS, thread, niceness)
    except OSError as exc:  # raising priority needs CAP_SYS_NICE (or a RLIMIT_NICE allowing it)
        current = os.getpriority(os.PRIO_PROCESS, 0)
        log.warning("shard %d stays at nice %d, not %d: %s", shard, current, niceness, exc, extra={"shard": shard})


@ray.remote
class ShardActor:
    """Owns one slice of the (rule, group key) space; the driver only makes control calls on it."""

    def __init__(self, shard: int, options: ShardOptions) -> None:
        configure_logging("evaluator", options.log_level)
        self.shard = shard
        set_niceness(options.niceness, shard)
        tune_collector(options.gc_threshold)
        self.config = options
        self.incarnation = uuid.uuid4().hex[:12]
        context = ray.get_runtime_context()
        self.node_id, self.gcs_address = context.get_node_id(), context.gcs_address
        self.counters = ShardCounters()
        self.lock = asyncio.Lock()  # around the shard state: batches and control calls never interleave
        self._start_lock = asyncio.Lock()
        self._save_lock = asyncio.Lock()
        self._capturing = asyncio.Lock()  # a capture is taken and queued (`pending`) before the next is taken
        self.snapshot_children = {"ok": 0, "failed": 0, "skipped": 0}  # skipped: too little memory free to fork
        self._fork_refused = False  # the last capture found too little memory to fork (logged once)
        self.snapshot_child_last: dict[str, Any] | None = None
        self.nc: Client | None = None
        self.js: JetStreamContext | None = None
        self.consumer: ShardConsumer | None = None
        self.store: SnapshotStore | None = None
        self.state = ShardState.from_rules([])
        self.task: asyncio.Task[None] | None = None
        self.stopping = False
        self.recovery: Literal["rewind", "resume"] | None = None
        self.done_seq = 0  # the last work-stream sequence whose effects are published and acknowledged
        self.applied_seq = 0  # the last work-stream sequence applied to the state (ahead while a batch is delivered)
        self.inflight: asyncio.Task[None] | None = None  # the batch being delivered
        self.saving: asyncio.Task[int] | None = None  # the snapshot being written in the background
        self.clock: datetime | None = None  # the latest tick of those (services/common/domain/lifecycle/catch_up.py)
        self.raw_done = RawDone()  # the last raw position applied per tenant (later copies are router replays)
        self.careful_through = 0  # replay events one per engine call up to here (after an engine failure)
        self.dirty = False  # the engine failed mid-run: the state is half-applied until `_resume` rebuilds it
        self.resumed_from: int | None = None
        self.snapshot_seq = 0
        self.captured_seq = 0  # the sequence of the last capture: the next delta follows it
        self.pending: list[Captured] = []  # deltas captured, in order, not written yet (the writer takes them)
        self.base: bytes | None = None  # the stored base (compressed) and the deltas written after it (JSON):
        self.written: list[bytes] = []  # what the next base is built from, off the lock, without a full capture
        self.snapshot_at = 0.0
        self.series = 0
        self.poison = PoisonBook(shard, self.counters)
        self.error: str | None = None
        self.snapshot_error: str | None = None  # why the latest snapshot was not written, until one is
        # Each tenant's series quotas, from the quota bucket (watched from `start`), enforced by the engine.
        self.quotas = quota_book(options.series_per_rule, options.series_per_tenant)
        self.limits = BookLimits(self.quotas)
        self.owns = Placement(options.shards).owner(shard)  # the series this shard evaluates (sharding.py)
        self.quota_task: asyncio.Task[None] | None = None
        self.refusals = RefusalReports()
        self.drops = DropReports()  # partial matches dropped at a pattern rule's cap, reported like refusals

    # -- control calls ---------------------------------------------------------------------------------
    async def start(self, nats_url: str) -> dict[str, Any]:
        """Connect, restore (snapshot, else the rule bucket), recreate the consumer and start consuming; idempotent."""
        async with self._start_lock:
            if self.task is None or self.task.done():
                if self.nc is None:
                    setup_tracing("evaluator")  # in the actor's own process (a no-op without OTEL_* set)
                    self.nc = await bus.connect(nats_url, f"cep-shard-{self.shard}-{os.getpid()}")
                    self.js = self.nc.jetstream()
                    await ensure_streams(self.js)
                    parts = part_size(self.nc.max_payload)
                    self.store = SnapshotStore(await snapshot_bucket(self.js), self.shard, parts)
                    self.consumer = ShardConsumer(self.js, self.shard, self.config.ack_wait)
                    self.quota_task = await follow_quotas(self.js, self.quotas)  # before the replay uses them
                self.stopping, self.error, self.recovery = False, None, None
                async with self.lock:
                    await self._resume()
                self.task = asyncio.create_task(self._consume(), name=f"shard-{self.shard}")
        return await self.status()

    async def stop(self) -> dict[str, Any]:
        """Finish the batch in hand, write a last snapshot and disconnect."""
        self.stopping = True
        if self.task is not None:
            done, _ = await asyncio.wait({self.task}, timeout=STOP_WAIT_SECONDS)
            if self.saving is not None:
                with contextlib.suppress(Exception):
                    await self.saving
                self.saving = None
            if done and self.error is None:
                try:
                    await self._save_snapshot()
                except Exception as exc:
                    log.warning("final snapshot failed: %s", exc, extra={"shard": self.shard})
        status = await self.status()
        await stop_following(self.quota_task)
        if self.consumer is not None:
            await self.consumer.close()
        if self.nc is not None and not self.nc.is_closed:
            with contextlib.suppress(Exception):
                await self.nc.drain()
        return status

    async def snapshot(self) -> int:
        """Write a snapshot now; returns the stream sequence it covers."""
        return await self._save_snapshot()

    async def anomaly_status(self, rule_id: str) -> dict[str, Any]:
        """The engine's anomaly status of one rule (KeyError: not held here; ValueError: not an anomaly rule)."""
        async with self.lock:
            return self.state.engine.anomaly_status(rule_id)

    async def series_quota(self, tenant: str) -> dict[str, Any]:
        """The tenant's series limits as this shard applies them, and the series its rules hold here."""
        limits = self.limits.of(tenant)
        held = self.state.engine.series_held(tenant)
        return {"tenant": tenant, "per_rule": limits.per_rule, "per_tenant": limits.per_tenant, "held": held}

    async def status(self) -> dict[str, Any]:
        """Liveness, position and size figures for `ShardStatus`, readiness and metrics."""
        pending = None
        if self.consumer is not None and self.nc is not None and self.nc.is_connected:
            pending = await self.consumer.pending()
        return {
            "shard": self.shard,
            "pid": os.getpid(),
            "node_id": self.node_id,  # where Ray placed this actor (a cluster node under RAY_ADDRESS)
            "gcs_address": self.gcs_address,
            "incarnation": self.incarnation,
            "started": self.task is not None,
            "consuming": self.task is not None and not self.task.done(),
            "rules": self.state.rule_count,
            "series": self.series,
            "last_seq": self.done_seq,
            "clock": None if self.clock is None else format_time(self.clock),
            "snapshot_seq": self.snapshot_seq,
            "resumed_from": self.resumed_from,
            "pending": None if pending is None else pending.total,
            "ack_pending": None if pending is None else pending.ack_pending,
            "poison": self.counters.poison,
            "recent_poison": list(self.poison.recent),
            "error": self.error,
            "snapshot_error": self.snapshot_error,
            "snapshot_children": dict(self.snapshot_children),  # captures in a forked child: ok, failed, skipped
            "snapshot_child_last": self.snapshot_child_last,  # the last child's wall and CPU time, memory
            "counters": self.counters.as_dict() | self.state.refit_figures(),
        }

    # -- restore ---------------------------------------------------------------------------------------
    async def _resume(self) -> None:
        """Rebuild the state from the snapshot (or the rule bucket) and replay from the sequence after it.

        The caller holds the lock. Writing the snapshot back at once claims it: an older incarnation still
        running finds its next write refused (Superseded) and stops.
        """
        assert self.store is not None and self.consumer is not None and self.js is not None
        snapshot = await self.store.load()
        state: ShardState | None = None
        if snapshot is not None:
            try:
                state = ShardState.restore(
                    snapshot.engine,
                    snapshot.rule_models(),
                    quotas=self.limits,
                    owns=self.owns,
                    pattern_cap=self.config.pattern_max_partials,
                    pattern_lateness=self.config.pattern_lateness_delta,
                )
            except (ValueError, KeyError, TypeError) as exc:
                log.error(
                    "snapshot not restorable, replaying the whole work stream: %s", exc, extra={"shard": self.shard}
                )
        if snapshot is None or state is None:
            rules = await owned_rules(self.js, self.shard, self.config.shards)
            cap, lateness = self.config.pattern_max_partials, self.config.pattern_lateness_delta
            state = ShardState.from_rules(
                rules, quotas=self.limits, owns=self.owns, pattern_cap=cap, pattern_lateness=lateness
            )
            seq = 0
            raw_done = RawDone()
        else:
            seq, raw_done = snapshot.seq, snapshot.raw_done
        self.state, self.done_seq, self.resumed_from, self.dirty = state, seq, seq, False
        self.applied_seq = seq
        self.raw_done = raw_done
        captured = capture_full(state, seq, raw_done)
        self.captured_seq = seq
        data = await asyncio.to_thread(lambda: compress(captured.built()))
        assert captured.capture is not None
        state.remember(captured.capture)
        async with self._save_lock:
            self.pending.clear()  # deltas of the state replaced: never written
            await self.store.save_base(data, seq)
            self.base, self.written = data, []
            await self._sweep()
        self.snapshot_seq, self.series, self.snapshot_at = seq, captured.series, time.monotonic()
        await self.consumer.reset(seq + 1)
        log.info("shard %d resumed after sequence %d with %d rules", self.shard, seq, state.rule_count)

    # -- the consume loop ------------------------------------------------------------------------------
    async def _consume(self) -> None:
        """Fetch and evaluate the next batch while the one before is delivered (one batch in flight)."""
        assert self.consumer is not None
        try:
            while not self.stopping:
                try:
                    if self.recovery is not None:
                        await self._recover()
                    msgs = await self.consumer.fetch(self.config.fetch_batch, self.config.fetch_timeout)
                    evaluated = await self._evaluate(msgs) if msgs else None
                    await self._settle()
                    if evaluated is not None:
                        self.inflight = asyncio.create_task(self._deliver(evaluated), name=f"shard-{self.shard}-out")
                    self._report_refusals()
                    self._snapshot_in_background()
                except Superseded as exc:
                    self.error = str(exc)
                    log.error("shard %d stops: %s", self.shard, exc, extra={"shard": self.shard})
                    return
                except (EngineFailure, DeliveryFailure) as exc:
                    log.error("%s; replaying from the snapshot", exc, extra={"shard": self.shard})
                    self.recovery = "resume"
                except OutOfOrder as exc:
                    log.warning(
                        "shard %d input out of order (%s); rewinding", self.shard, exc, extra={"shard": self.shard}
                    )
                    self.recovery = self.recovery or "rewind"
                except Exception as exc:  # NATS trouble (consumer gone, timeouts): go on after the last message done
                    self.error = f"{type(exc).__name__}: {exc}"
                    log.warning("shard %d consume error: %s", self.shard, self.error, extra={"shard": self.shard})
                    self.recovery = self.recovery or "rewind"
                    await asyncio.sleep(RETRY_SECONDS)
        finally:
            with contextlib.suppress(Exception):
                await self._settle()

    async def _settle(self) -> None:
        """Wait until the batch in flight is delivered; DeliveryFailure when it could not be (state ran ahead)."""
        inflight, self.inflight = self.inflight, None
        if inflight is None:
            return
        try:
            await inflight
        except Exception as exc:
            self.recovery = "resume"  # its outputs may be missing: only a restore and replay is exact
            raise DeliveryFailure(f"delivering a batch failed: {type(exc).__name__}: {exc}") from exc

    async def _recover(self) -> None:
        """Rewind the consumer to the last message done, or (after an engine failure) restore and replay."""
        assert self.consumer is not None
        with contextlib.suppress(DeliveryFailure):
            await self._settle()
        async with self.lock:
            if self.recovery == "resume":
                await self._resume()
            else:
                self.applied_seq = self.done_seq
                await self.consumer.reset(self.done_seq + 1)
        self.recovery, self.error = None, None

    async def _evaluate(self, msgs: list[Msg]) -> Evaluated:
        """Decode a batch and apply it to the state under the lock; its outputs are delivered by `_deliver`."""
        assert self.consumer is not None
        started = time.perf_counter()
        decoded: list[Work] = []
        poison: dict[ItemId, str] = {}  # by (work sequence, index in the message)
        broken: set[int] = set()  # work messages malformed as a whole: terminated
        for msg in msgs:
            self.consumer.check_order(msg)
            seq = msg.metadata.sequence.stream
            if seq <= self.applied_seq:
                continue  # a redelivery of work already applied: only acknowledged again
            try:
                found, bad = decode_message(seq, msg.data)
            except WorkError as exc:
                broken.add(seq)
                poison[(seq, 0)] = str(exc)
                continue
            decoded += found
            poison.update({(seq, index): error for index, error in bad.items()})
        span = evaluate_span(self.shard, decoded)  # None while tracing is off
        out = Output()
        async with self.lock:
            items, raw_done = fresh(decoded, self.raw_done)  # copies from a router replay are left out
            await self._apply(items, out, poison)
            self.raw_done = raw_done
            self.applied_seq = max(self.applied_seq, max(msg.metadata.sequence.stream for msg in msgs))
            clock = self.state.clock
        end_span(span)
        return Evaluated(msgs, broken, decoded, poison, out, self.applied_seq, clock, started)

    async def _deliver(self, batch: Evaluated) -> None:
        """Publish a batch's transitions (awaiting every PubAck) and dead letters, then ack its input and answer
        its triggers. Runs while the next batch is evaluated; the next delivery starts only after this one."""
        out = batch.out
        await self._publish(out.alerts, event_traces(batch.decoded))
        await publish_rule_failures(self.js, self.shard, out.failures)  # dead letters, before the ack
        for refused in out.refusals:
            self.counters.refused(refused.tenant, refused.count)
        self.refusals.add(out.refusals)
        self.drops.add(out.pattern_drops)
        self.done_seq = max(self.done_seq, batch.seq)
        self.clock = batch.clock  # its ticks' alerts are published: the gateway may count on them
        await self._ack(batch.msgs, batch.broken)
        await self._reply(out.replies)
        self.poison.record(self.js, batch.decoded, batch.poison)
        kinds = [transition.kind for transition, _ in out.alerts]
        self.counters.observe_batch(time.perf_counter() - batch.started, out.events, kinds)

    async def _apply(self, items: list[Work], out: Output, poison: dict[ItemId, str]) -> None:
        """Run the items through the state, chunk by chunk; a step of one item that raises is poison."""
        for step in steps(items, self.config.chunk, self.careful_through):
            try:
                self.state.run(step, out)
            except Exception as exc:
                if len(step) > 1:
                    self.careful_through, self.dirty = step[-1].seq, True
                    raise EngineFailure(f"the engine failed on sequences {step[0].seq}..{step[-1].seq}: {exc}") from exc
                error = poison[item_id(step[0])] = f"{type(exc).__name__}: {exc}"
                self.state.failed(step[0], error, out)
            await asyncio.sleep(0)

    async def _publish(self, alerts: list[tuple[Transition, Actions]], traces: dict[str, str] | None = None) -> None:
        """Publish every transition (msg id = transition id) and await every PubAck, retrying until all are stored."""
        assert self.js is not None
        await publish_alerts(self.js, alerts, self._drop, self.shard, traces)

    def _drop(self, transition: Transition, error: Exception) -> None:
        self.poison.dropped(self.js, self.done_seq, transition, error)

    async def _ack(self, msgs: list[Msg], broken: set[int]) -> None:
        """Acknowledge the batch (malformed messages with `term`: never redelivered); a lost ack is a redelivery.

        A message with a poison item among good ones is acknowledged: its other items were applied.
        """
        acks = [msg.term() if msg.metadata.sequence.stream in broken else msg.ack() for msg in msgs]
        for result in await asyncio.gather(*acks, return_exceptions=True):
            if isinstance(result, Exception):
                log.warning("ack failed: %s", result, extra={"shard": self.shard})

    async def _reply(self, replies: list[tuple[str, bytes]]) -> None:
        """Answer triggers (core NATS: a lost answer is a 504 at the gateway, never a reason to redo the batch)."""
        assert self.nc is not None
        for subject, body in replies:
            try:
                await self.nc.publish(subject, body)
            except Exception as exc:
                log.warning("trigger answer to %s lost: %s", subject, exc, extra={"shard": self.shard})

    def _report_refusals(self) -> None:
        """Report the refused series on their rules: at once, then at most once a minute per rule and quota."""
        report_series_refused(self.js, self.shard, self.refusals.due(time.monotonic()))
        report_pattern_drops(self.js, self.shard, self.drops.due(time.monotonic()))

    # -- snapshots -------------------------------------------------------------------------------------
    def _capture_delta(self) -> Captured | None:
        """What changed since the last capture (snapshot_capture.py); the caller holds the lock. None when nothing
        moved. Only copies are taken here: the capture is encoded when written, off the lock."""
        seq = self.applied_seq
        captured = capture_delta(self.state, seq, self.captured_seq, self.raw_done, self.config.delta_ratio)
        if captured is not None:
            self.captured_seq = seq
        return captured

    async def _save_snapshot(self) -> int:
        """Capture what changed and write it; returns the sequence the stored snapshot covers.

        Captured under the state lock, encoded, compressed and written outside it (`_resume` takes the two locks
        the other way round); deltas are written in the order captured, and a half-applied state is never captured.
        """
        async with self._capturing:  # one capture at a time, queued in the order taken (a forked one queues late)
            forked = None
            async with self.lock:
                if self.dirty:
                    return self.snapshot_seq
                if self.config.snapshot_fork and can_fork():
                    forked = self._fork_capture()
                if forked is None:
                    captured = self._capture_delta()
                    if captured is not None:
                        self.pending.append(captured)
            if forked is not None:
                await self._collect(forked)
        return await self._write_pending()

    def _fork_capture(self) -> Forked | None:
        """`_capture_delta` in a forked child (snapshot_fork.py); the caller holds the lock. None when no child
        could be made: the caller captures in process."""
        reading = memory_headroom.read()
        if not memory_headroom.fork_fits(reading, self.config.snapshot_fork_headroom):
            self._no_room_to_fork(reading)
            return None
        self._fork_refused = False
        seq = self.applied_seq
        try:
            forked = fork_capture(self.state, seq, self.captured_seq, self.raw_done, self.config.delta_ratio)
        except OSError as exc:
            log.warning("snapshot child not started (%s): captured in process", exc, extra={"shard": self.shard})
            return None
        self.captured_seq = seq
        return forked

    async def _collect(self, forked: Forked) -> None:
        """The child's snapshot, queued to be written; when the child gave none, the changes it took are gone with
        it, so a whole base is captured in process (the chain stays whole)."""
        try:
            captured = await collect(forked)
        except ForkFailed as exc:
            log.error("snapshot child failed (%s): a whole base is captured here", exc, extra={"shard": self.shard})
            self._child_done(forked, "failed")
            self.counters.snapshot_failures += 1
            async with self.lock:
                if self.state is not forked.state or self.dirty:
                    return  # replaced since (a restore writes its own base)
                captured = capture_full(self.state, self.applied_seq, self.raw_done)
                self.captured_seq = captured.seq
                self.pending.append(captured)
            return
        finally:
            forked.let_go = None  # the parent's old change sets, freed once no child shares their pages
        self._child_done(forked, "ok")
        async with self.lock:
            if captured is not None and self.state is forked.state:  # else replaced since: its base supersedes
                self.pending.append(captured)

    def _no_room_to_fork(self, reading: memory_headroom.MemoryReading) -> None:
        """No child this time: the memory free would not hold a copy of the shard (logged once until it would)."""
        self.snapshot_children["skipped"] += 1
        self.counters.child_done("skipped", 0.0, 0)
        if not self._fork_refused:
            self._fork_refused = True
            log.warning(
                "snapshot captured in process: %d MB free to the shard, under %.1f x its %d MB resident "
                "(CEP_SNAPSHOT_FORK_HEADROOM)",
                (reading.free or 0) >> 20,
                self.config.snapshot_fork_headroom,
                reading.resident >> 20,
                extra={"shard": self.shard},
            )

    def _child_done(self, forked: Forked, outcome: str) -> None:
        usage = forked.usage
        self.snapshot_children[outcome] += 1
        self.counters.child_done(outcome, usage.cpu_seconds if usage else 0.0, usage.faulted_bytes if usage else 0)
        if usage is not None:
            self.snapshot_child_last = {
                "seconds": round(time.monotonic() - forked.began, 3),
                "cpu_seconds": round(usage.cpu_seconds, 3),
                "max_rss_bytes": usage.max_rss_bytes,
                "faulted_bytes": usage.faulted_bytes,
                "outcome": outcome,
            }

    def _snapshot_in_background(self) -> None:
        """Start a snapshot off the consume loop when one is due and none is being written; a finished write's
        failure (Superseded) raises here, in the loop."""
        if self.saving is not None and self.saving.done():
            saving, self.saving = self.saving, None
            saving.result()
        if self.saving is None and time.monotonic() - self.snapshot_at >= self.config.snapshot_interval:
            self.snapshot_at = time.monotonic()  # not twice while this one runs
            self.saving = asyncio.create_task(self._save_snapshot(), name=f"shard-{self.shard}-snapshot")

    async def _write_pending(self) -> int:
        """Store the deltas captured, in order, once every output up to their sequence is published (a snapshot
        never covers a batch whose alerts could still be lost). A delta not written stays for the next time."""
        assert self.store is not None
        while self.pending and self.done_seq < self.pending[-1].seq and self.recovery is None and not self.stopping:
            await asyncio.sleep(DELIVERY_POLL_SECONDS)
        async with self._save_lock:
            while self.pending and self.pending[0].seq <= self.done_seq:
                captured = self.pending[0]
                try:
                    await self._write_delta(captured)
                except SnapshotTooLarge as exc:  # keep consuming: a restart only replays further back
                    self.counters.snapshot_failures += 1
                    self.snapshot_error = f"snapshot at sequence {captured.seq} not written: {exc}"
                    log.error("shard %d, %d series: %s", self.shard, captured.series, exc, extra={"shard": self.shard})
                    return self.snapshot_seq
                self.pending.pop(0)
                self.series, self.snapshot_seq, self.snapshot_error = captured.series, captured.seq, None
        return self.snapshot_seq

    async def _write_delta(self, captured: Captured) -> None:
        """Append a delta to the stored chain, or, once the deltas outweigh `delta_ratio` of the base or number
        `max_deltas`, write a new base: the stored base with the deltas applied, built in a child process."""
        assert self.store is not None and self.store.chain is not None and self.base is not None
        chain = self.store.chain
        began = time.monotonic()
        data = await asyncio.to_thread(lambda: compress(captured.built()))
        # at most ~5% of the shard's time goes into snapshots: the next waits 20x this one's cost on top of the interval
        cost = captured.cost + time.monotonic() - began
        self.snapshot_at = max(self.snapshot_at, time.monotonic() + SNAPSHOT_COST_FACTOR * cost)
        if captured.state is self.state and captured.capture is not None:  # the series it encoded, unchanged
            captured.state.remember(captured.capture)  # since, are not encoded again
        body = captured.built()
        if captured.base:
            await self.store.save_base(data, captured.seq)
            self.base, self.written = data, []
            self.counters.wrote_snapshot("base")
            return
        heavy = chain.delta_bytes + len(data) > self.config.delta_ratio * chain.base.size
        if not heavy and len(chain.deltas) < self.config.max_deltas:
            await self.store.save_delta(data, captured.seq)
            self.written.append(body)
            self.counters.wrote_snapshot("delta")
            return
        base = await rebase_in_child(self.base, [*self.written, body])
        await self.store.save_base(base, captured.seq)
        self.base, self.written = base, []
        self.counters.wrote_snapshot("rebase")

    async def _sweep(self) -> None:
        """Remove the parts of snapshots a crash left without a manifest (best effort: they only take space)."""
        assert self.store is not None
        try:
            removed = await self.store.sweep()
        except Exception as exc:
            log.warning("stale snapshot parts not swept: %s", exc, extra={"shard": self.shard})
            return
        if removed:
            log.info("removed %d stale snapshot part(s)", removed, extra={"shard": self.shard})
