"""The router: a durable consumer of the raw event stream that sends each event only to the shards that need it.

Where an event goes is the shard map's placement (services/common/domain/evaluation/sharding.py): the shards
owning a series it touches, usually one. Order is the contract: rule changes and events are handled in stream
order, a rule change's work messages (one per shard holding the rule) are a barrier (nothing after them is
published before their PubAcks), and a batch is acked only after every work message of it is confirmed. One batch
is in flight while the next is fetched and routed; the next is published only once the one before is confirmed,
so the work stream keeps stream order even when a reconnect loses a write. Between
rule changes, each shard gets one work message with all the batch's events it needs, the raw messages forwarded
as stored (`work_batches.py`), so the work stream takes a few writes per batch, not one per (event, shard).
After a failure or a crash the consumer restarts from its ack floor; rule changes and triggers carry
deterministic ids (`<change id>:<shard>`, `<event id>:<shard>`), and every event carries its raw position,
so a shard applies a replayed event once even when the replay's batch boundaries (hence ids) differ.

With `CEP_ROUTER_PARTITIONS` above 1 there is one router per partition, each routing the tenants that hash to it
under a lease and a durable consumer of its own (services/common/nats/router_partitions.py; the ingest replicas
share the partitions out: router_pool.py). A router acks the other partitions' messages unread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.client import JetStreamContext
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue
from opentelemetry.trace import Span

from services.common.domain.evaluation.sharding import BY_RULE, SERIES, Placement, scheme_of
from services.common.messages import codec
from services.common.nats import subjects
from services.common.nats.durable_consumer import Backoff, pause
from services.common.nats.epoch_markers import all_marked, announce, last_announced
from services.common.nats.lease import RouterLease
from services.common.nats.lease import router_lease_bucket as lease_bucket
from services.common.nats.publishing import Outgoing, publish_all
from services.common.nats.router_partitions import Partition, tenant_of_message
from services.common.nats.streams import ensure_streams
from services.common.ops import CheckResult
from services.common.tracing.propagation import traceparent_of
from services.common.tracing.setup import enabled
from services.common.tracing.spans import batch_span, end_span
from services.ingest.partition_handover import OtherCountRouting, consumer_start
from services.ingest.router_consumer import bind_router_consumer, load_rules
from services.ingest.router_stats import CONSUMER_PENDING, ROUTE_BATCH, RouterStats
from services.ingest.routing import Dropped, Inbound, Routed, route
from services.ingest.rule_table import RuleTable
from services.ingest.work_batches import WorkBatches, work_limit

log = logging.getLogger(__name__)

BATCH = 500
FETCH_SECONDS = 1.0  # how long a fetch waits for messages; also how quickly a stop is noticed
PENDING_EVERY_SECONDS = 5.0
SHARD_MAP_SECONDS = 1.0
MARKERS_WAIT_SECONDS = 20.0  # how long a partition waits for the others to mark an epoch (under the 30 s ack wait)


Settle = Callable[[], Awaitable[object]]


@dataclass(frozen=True)
class Outbound:
    """A routed batch: its raw messages (acked once sent), its work in segments, what became of each message."""

    messages: list[Msg]
    segments: list[list[Outgoing]]
    outcomes: list[Routed]
    started: float
    span: Span | None = None  # the batch's span while tracing (linked to its events' traces), ended once acked


class LeaseLost(RuntimeError):
    """Another ingest replica routes now (or this one gave the partition up): this one goes back to standing by."""


class Share(Protocol):
    """How the routers of one replica share the partitions out with the other replicas (router_pool.py)."""

    def may_claim(self, router: Router) -> bool: ...

    def should_release(self, router: Router) -> bool: ...


class Router:
    """Routes CEP_EVENTS to CEP_WORK: rule changes to their owning shard, events to their candidate rules' shards."""

    def __init__(
        self,
        nc: Client,
        *,
        default_shards: int,
        durable: str | None = None,
        batch: int = BATCH,
        fetch_seconds: float = FETCH_SECONDS,
        lease_seconds: float | None = None,
        instance: str = "",
        partition: Partition | None = None,
        share: Share | None = None,
    ) -> None:
        """`lease_seconds`: route only while holding the partition's lease (several replicas); None: always.

        `partition`: which tenants to route (all of them by default); `durable` defaults to its consumer's name.
        """
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream()
        self.default_shards = default_shards
        self.partition = partition or Partition()
        self.durable = durable or self.partition.durable
        self.share = share
        self.batch = batch
        self.fetch_seconds = fetch_seconds
        self.stats = RouterStats(shards=default_shards)
        self.placement = Placement(default_shards, SERIES)  # the shard map's, re-read every batch
        self.running = False
        self.table = RuleTable()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._control: KeyValue | None = None
        self.announced: int | None = None  # the last shard-map epoch marked on the work stream
        self.all_marked = 0  # the last epoch every partition has marked (partitioned routing waits for it)
        self.waiting: str | None = None  # why a router of a new partition count does not route yet
        self.lease_seconds = lease_seconds
        self.instance = instance or f"{socket.gethostname()}-{os.getpid()}"
        self.lease: RouterLease | None = None
        self.standby = False  # another replica holds the lease
        self._renew_at = 0.0
        self._inflight: asyncio.Task[None] | None = None  # the routed batch being published and acked

    async def start(self) -> None:
        """Start routing in the background (set-up retries until NATS and JetStream answer)."""
        self._stop.clear()
        self._tasks = [
            asyncio.create_task(self._run(), name="router"),
            asyncio.create_task(self._watch_pending(), name="router-pending"),
        ]

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop after the batch in hand (stopped by an event, not cancelled: KV and fetch calls may hang on cancel)."""
        self._stop.set()
        if not self._tasks:
            return
        _, late = await asyncio.wait(self._tasks, timeout=timeout)
        for task in late:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self.lease is not None:
            await self.lease.release()

    async def check(self) -> CheckResult:
        """Ready while the consumer is bound and fetching, or while standing by for the lease."""
        if self.standby or self.waiting:
            role = {"role": "standby", "consumer": self.durable}
            return CheckResult(True, role if self.waiting is None else {**role, "waiting": self.waiting})
        if not self.running:
            return CheckResult(False, self.stats.last_error or "router starting")
        detail = {"consumer": self.durable, "pending": self.stats.pending, "shards": self.stats.shards}
        return CheckResult(True, detail)

    async def _run(self) -> None:
        backoff = Backoff()  # the platform's one back-off policy (durable_consumer.py)
        while not self._stop.is_set():
            sub = None
            try:
                if not await self._lead():
                    continue
                sub = await self._setup()
                self.running = True
                backoff.reset()
                await self._consume(sub)
            except LeaseLost:
                self.running = False
            except OtherCountRouting as exc:  # a change of the partition count: the old routers must stop first
                self.running = False
                if self.waiting is None:
                    log.warning("%s", exc)
                self.waiting = str(exc)
                await self._sleep(self.lease.renew_every if self.lease is not None else 1.0)
            except Exception as exc:  # NATS down, a publish failed: start again from the ack floor
                self.running = False
                self.stats.restarts += 1
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
                delay = backoff.next()
                log.warning("router stopped: %s; restarting from the ack floor in %.1fs", exc, delay)
                await self._sleep(delay)
            finally:
                if sub is not None:
                    with contextlib.suppress(Exception):
                        await sub.unsubscribe()
        self.running = False

    async def _lead(self) -> bool:
        """Whether to route now: always without a lease; with one, once claimed (a standby waits, then says no)."""
        if self.lease_seconds is None:
            return True
        if self.lease is None:
            kv = await lease_bucket(self.js, self.lease_seconds)
            self.lease = RouterLease(kv, self.instance, self.lease_seconds, self.partition.lease_key)
        if not self.lease.held and self.share is not None and not self.share.may_claim(self):
            self.standby = True  # this replica routes its share of the partitions already
            await self._sleep(self.lease.renew_every)
            return False
        self.standby = not await self.lease.claim()
        if self.standby:
            await self._sleep(self.lease.renew_every)
            return False
        self._renew_at = time.monotonic() + self.lease.renew_every
        return True

    async def _keep_lease(self) -> None:
        """Renew the lease when due; LeaseLost when another replica holds it or it is no longer trusted."""
        if self.lease is None:
            return
        if time.monotonic() >= self._renew_at:
            await self.lease.claim()
            self._renew_at = time.monotonic() + self.lease.renew_every
        if not self.lease.held:
            self.standby = self.lease.revision is None
            raise LeaseLost(f"router lease lost by {self.instance}")
        if self.share is not None and self.share.should_release(self):  # another replica takes this partition
            await self._settle()
            await self.lease.release()
            self.standby = True
            raise LeaseLost(f"{self.partition} handed to another replica by {self.instance}")

    async def _setup(self) -> JetStreamContext.PullSubscription:
        """Declare streams, load the rules, bind the consumer at its ack floor; return the pull subscription."""
        await ensure_streams(self.js)
        info = await self.js.stream_info(subjects.EVENTS_STREAM)
        self.table = await load_rules(self.js)
        self.table.catch_up_to = info.state.last_seq
        self._control = await self.js.key_value(subjects.CONTROL_BUCKET)
        self.announced = await last_announced(self.js, self.partition)
        leases = None if self.lease is None else self.lease.kv
        sub = await bind_router_consumer(self.js, self.durable, lambda: consumer_start(self.js, self.partition, leases))
        self.waiting = None
        log.info("%s bound: %d rule(s), stream at %d", self.partition, len(self.table), info.state.last_seq)
        return sub

    async def _consume(self, sub: JetStreamContext.PullSubscription) -> None:
        """Fetch and route the next batch while the previous one's PubAcks are outstanding (one batch in flight).

        A batch's work is published only once every work message of the batch before is confirmed, so the work
        stream keeps stream order even across a reconnect; a batch whose publishes fail raises here, and the
        router restarts from its ack floor (the batch fetched meanwhile is neither published nor acked).
        """
        try:
            while not self._stop.is_set():
                await self._keep_lease()
                try:
                    # Returns what is there once a message came (not a full batch): no wait at low load.
                    messages = await sub.fetch(self.batch, timeout=self.fetch_seconds)
                except TimeoutError:
                    if not self.nc.is_connected:
                        raise ConnectionError("NATS is not connected") from None
                    await self._settle()
                    await self._placement()  # idle: a new shard map is still announced (the evaluator waits for it)
                    continue
                await self._keep_lease()  # a batch fetched after losing the lease is left to the new holder
                outbound = await self.prepare(messages, self._settle)
                await self._settle()
                self._inflight = asyncio.create_task(self.send(outbound), name="router-send")
            await self._settle()
        finally:
            if self._inflight is not None:  # stopping on an error: the batch in flight is acked or replayed
                with contextlib.suppress(Exception):
                    await self._settle()

    async def _settle(self) -> None:
        """Wait for the batch in flight to be published and acked (its failure raises here)."""
        inflight, self._inflight = self._inflight, None
        if inflight is not None:
            await inflight

    async def handle(self, messages: list[Msg]) -> None:
        """Route one batch in stream order, publish its work, await every PubAck, then ack the batch."""
        await self.send(await self.prepare(messages))

    async def prepare(self, messages: list[Msg], settle: Settle | None = None) -> Outbound:
        """Route one batch in stream order into segments of work messages (nothing published yet).

        `settle` finishes the batch in flight before a new shard-map epoch is announced (`_placement`).
        """
        started = time.perf_counter()
        placement = await self._placement(settle)
        limit = work_limit(self.nc.max_payload)
        segments: list[list[Outgoing]] = []  # each stored before the next is sent
        batches = WorkBatches(limit, placement.shards)
        outcomes: list[Routed] = []
        for msg in messages:
            routed = self._route_one(msg, placement, limit)
            outcomes.append(routed)
            if routed.ordered:  # a rule change: a segment of its own, published between the others
                segments += [*batches.close(), routed.outgoing]
                batches = WorkBatches(limit, placement.shards)
                continue
            for event in routed.batched:
                batches.add(event)
            for message in routed.outgoing:
                batches.add_message(message)
        segments += batches.close()
        return Outbound(messages, segments, outcomes, started, self._span(messages, outcomes))

    async def send(self, outbound: Outbound) -> None:
        """Publish a routed batch's segments in order (each confirmed before the next), then ack its messages."""
        for segment in outbound.segments:
            for ack in await publish_all(self.js, self.nc, segment):
                self.stats.work_published += 1
                self.stats.work_duplicates += int(bool(ack.duplicate))
        for result in await asyncio.gather(*(msg.ack() for msg in outbound.messages), return_exceptions=True):
            if isinstance(result, Exception):  # a lost ack is a redelivery, applied once by its raw position
                log.warning("router ack failed: %s", result)
        self.stats.account(outbound.outcomes, len(outbound.messages))
        ROUTE_BATCH.observe(time.perf_counter() - outbound.started)
        end_span(outbound.span)

    @staticmethod
    def _span(messages: list[Msg], outcomes: list[Routed]) -> Span | None:
        """The batch's span while tracing: a trace of its own, linked to the trace of each raw message."""
        if not enabled():
            return None
        attributes = {"cep.messages": len(messages), "cep.events": sum(o.events for o in outcomes)}
        return batch_span("cep.route", (traceparent_of(m.headers) for m in messages), attributes)

    def _route_one(self, msg: Msg, placement: Placement, limit: int) -> Routed:
        meta = msg.metadata
        if not self.partition.single and not self.partition.routes(tenant_of_message(msg.subject, msg.data)):
            self.stats.other_partitions += 1  # another partition's router routes it; acked with the batch
            self.table.passed(meta.sequence.stream)
            return Routed()
        headers = dict(msg.headers or {})
        inbound = Inbound(msg.subject, msg.data, headers, meta.sequence.stream, meta.timestamp, traceparent_of(headers))
        try:
            routed = route(inbound, self.table, placement, limit)
        except Exception as exc:  # a bug must not stall the stream: log it, drop the message
            log.exception("routing failed at sequence %d", meta.sequence.stream, extra={"subject": msg.subject})
            routed = Routed(dropped=[Dropped(None, None, f"routing failed: {exc}")])
        self.table.passed(meta.sequence.stream)
        return routed

    async def _placement(self, settle: Settle | None = None) -> Placement:
        """The placement of the evaluator's shard map, else the default (re-read every batch: one KV get).

        A map without a `placement` is one of an earlier version: its rules are placed by rule id (`rule`) until
        the evaluator moves the series. A new epoch is announced on the work stream before anything is routed
        with it (`epochs.announce`).
        """
        if self._control is None:
            return self.placement
        epoch, moving = 0, False
        try:
            entry = await asyncio.wait_for(self._control.get(subjects.SHARD_MAP_KEY), SHARD_MAP_SECONDS)
            shard_map = codec.loads(entry.value or b"{}")
            count, epoch = int(shard_map["shards"]), int(shard_map.get("epoch") or 0)
            moving = shard_map.get("from") is not None  # the evaluator is taking the cut of this epoch
            self.placement = Placement(count, scheme_of(shard_map.get("placement", BY_RULE)))
        except KeyNotFoundError:
            self.placement = Placement(self.default_shards, SERIES)
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("unreadable shard map (%s); keeping %s", exc, self.placement)
        except TimeoutError:  # NATS is failing: the publishes will say so; keep the last known placement
            log.warning("reading the shard map timed out; keeping %s", self.placement)
        self.stats.shards = self.placement.shards
        if epoch and epoch != self.announced:  # every batch routed with the old map is stored: this is the cut
            if settle is not None:
                await settle()
            await announce(self.js, epoch, self.placement, self.partition)  # a failure restarts the router
            self.announced = epoch
        if moving and epoch > self.all_marked and not self.partition.single:
            await self._await_markers(epoch)
        return self.placement

    async def _await_markers(self, epoch: int) -> None:
        """Wait until every partition has marked `epoch`: no work of the new map may precede another's marker.

        Only while the map says a move is under way (`from`): once the evaluator has its cut, markers that aged
        out of the work stream (2 days) are not waited for.

        TimeoutError after MARKERS_WAIT_SECONDS (a partition without a router): the router restarts from its ack
        floor and waits again, its fetched batch left unacked for the redelivery.
        """
        deadline = time.monotonic() + MARKERS_WAIT_SECONDS
        while not await all_marked(self.js, epoch, self.partition.count):
            if time.monotonic() > deadline or self._stop.is_set():
                raise TimeoutError(f"not every router partition has marked shard-map epoch {epoch}")
            await self._sleep(0.1)
        self.all_marked = epoch

    async def _watch_pending(self) -> None:
        gauge = CONSUMER_PENDING.labels(subjects.EVENTS_STREAM, self.durable)
        while not self._stop.is_set():
            with contextlib.suppress(Exception):
                if self.running:
                    info = await self.js.consumer_info(subjects.EVENTS_STREAM, self.durable)
                    self.stats.pending = info.num_pending
                    gauge.set(info.num_pending or 0)
            await self._sleep(PENDING_EVERY_SECONDS if self.running else 0.2)

    async def _sleep(self, seconds: float) -> None:
        await pause(self._stop, seconds)
