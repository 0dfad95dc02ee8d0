"""The evaluator's Ray driver: starts one actor per shard, records ticks, and keeps the actors consuming.

Only control calls cross Ray here (start, stop, status, snapshot, anomaly status); events never do. Ray
restarts a dead actor process (`max_restarts=-1`); the driver sees the new incarnation report that it is
not consuming and calls `start()` on it, which restores its snapshot and replays its work stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

import ray
import ray.exceptions
from nats.js.client import JetStreamContext

from services.common.domain.evaluation.anomaly_status import merged_status
from services.common.messages.work import work_tick
from services.common.nats import subjects
from services.common.ops import CheckResult
from services.common.tracing.setup import otel_environment
from services.common.tracing.setup import wanted as tracing_wanted
from services.evaluator.metrics import ShardCollector
from services.evaluator.options import ShardOptions
from services.evaluator.quota_watch import quota_book
from services.evaluator.rebalance import rebalance
from services.evaluator.shard import ShardActor
from services.evaluator.shard_map import ShardMap, read_shard_map
from services.evaluator.snapshots import DEFAULT_PART_BYTES

log = logging.getLogger(__name__)

STATUS_TIMEOUT_SECONDS = 5.0
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 10.0
SUPERVISE_SECONDS = 1.0


class ShardDriver:
    """Creates the shard actors, publishes the shard map and the ticks, and supervises the actors."""

    def __init__(
        self,
        options: ShardOptions,
        nats_url: str,
        *,
        tick_interval: float = 1.0,
        shard_cpus: float | None = None,
    ) -> None:
        self.options = options
        self.count = options.shards
        self.nats_url = nats_url
        self.tick_interval = tick_interval
        self.shard_cpus = shard_cpus
        self.actors: list[Any] = []
        self.collector = ShardCollector()
        self.last_status: list[dict[str, Any]] = []
        self._js: JetStreamContext | None = None
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._starting: dict[int, asyncio.Task[None]] = {}

    async def start(self, js: JetStreamContext, part_bytes: int = DEFAULT_PART_BYTES) -> None:
        """Create the actors, publish the shard map, start them, then tick and supervise in the background.

        `part_bytes`: the largest snapshot value to write (under the connection's payload limit).
        """
        self._js = js
        # Before any actor starts: series move when the shard count changed.
        quotas = quota_book(self.options.series_per_rule, self.options.series_per_tenant)
        cap, lateness = self.options.pattern_max_partials, self.options.pattern_lateness_delta
        await rebalance(
            js, self.count, part_bytes=part_bytes, quotas=quotas, pattern_cap=cap, pattern_lateness=lateness
        )
        options: dict[str, Any] = {"max_restarts": -1, "max_task_retries": 0}
        if self.shard_cpus is not None:
            options["num_cpus"] = self.shard_cpus
        if tracing_wanted():  # actors on a cluster do not inherit this process's environment
            options["runtime_env"] = {"env_vars": otel_environment()}
        factory = ShardActor.options(**options)  # type: ignore[attr-defined]  # added by @ray.remote
        self.actors = [factory.remote(shard, self.options) for shard in range(self.count)]
        await self.publish_shard_map(js)
        for shard in range(self.count):
            self._start_actor(shard)
        self._stop.clear()
        self._tasks = [
            asyncio.create_task(self._tick_loop(), name="shard-ticks"),
            asyncio.create_task(self._supervise_loop(), name="shard-supervisor"),
        ]

    async def stop(self) -> list[dict[str, Any]]:
        """Stop ticking, let each actor finish its batch and snapshot, then end the actors; their last statuses."""
        self._stop.set()
        await asyncio.gather(*self._tasks, *self._starting.values(), return_exceptions=True)
        stops = [asyncio.wait_for(_await(actor.stop.remote()), STOP_TIMEOUT_SECONDS) for actor in self.actors]
        final: list[dict[str, Any]] = []
        for shard, result in enumerate(await asyncio.gather(*stops, return_exceptions=True)):
            if isinstance(result, BaseException):
                log.warning("shard %d did not stop cleanly: %s", shard, result, extra={"shard": shard})
                final.append({"shard": shard, "alive": False, "error": f"{type(result).__name__}: {result}"})
            else:
                final.append({**result, "alive": True})
        for actor in self.actors:
            with contextlib.suppress(Exception):
                ray.kill(actor, no_restart=True)
        self.actors = []
        return final

    async def publish_shard_map(self, js: JetStreamContext) -> ShardMap:
        """Write the map of `count` shards under series placement; the epoch moves on only when either changes."""
        kv = await js.key_value(subjects.CONTROL_BUCKET)
        current = await read_shard_map(kv)
        epoch = 1 if current is None else current.epoch + (0 if current.settled(self.count) else 1)
        shard_map = ShardMap(max(epoch, 1), self.count)
        await kv.put(subjects.SHARD_MAP_KEY, shard_map.encode())
        return shard_map

    async def tick(self, now: datetime | None = None) -> None:
        """Record one tick in every shard's input (ticks are input, so timers replay deterministically)."""
        assert self._js is not None
        body = work_tick(now or datetime.now(UTC))
        await asyncio.gather(*(self._js.publish(subjects.work_subject(shard), body) for shard in range(self.count)))

    async def status(self) -> list[dict[str, Any]]:
        """Each shard's status, or `alive: false` with the reason when it does not answer in time."""

        async def one(shard: int, actor: Any) -> dict[str, Any]:
            try:
                info = await asyncio.wait_for(_await(actor.status.remote()), timeout=STATUS_TIMEOUT_SECONDS)
                return {**info, "alive": True}
            except Exception as exc:
                return {"shard": shard, "alive": False, "error": f"{type(exc).__name__}: {exc}"}

        statuses = list(await asyncio.gather(*(one(i, a) for i, a in enumerate(self.actors))))
        self.last_status = statuses
        self.collector.update(statuses)
        return statuses

    async def check(self) -> CheckResult:
        """Ready when every shard actor answers, has started and is consuming its work stream."""
        shards = await self.status()
        ready = bool(shards) and all(s["alive"] and s.get("consuming") for s in shards)
        keys = (
            *("shard", "alive", "consuming", "last_seq", "pending", "ack_pending", "clock", "error"),
            *("series", "snapshot_seq", "snapshot_error", "snapshot_children", "snapshot_child_last"),
        )
        brief = [{k: s.get(k) for k in keys} for s in shards]
        return CheckResult(ready, {"shards": brief})

    async def anomaly_status(self, tenant: str, rule_id: str) -> dict[str, Any]:
        """Ask every shard (each holds the rule and the series it owns) and merge their answers: KeyError when no
        such rule of this tenant is held, ValueError when the rule is not an anomaly rule, TimeoutError when a
        shard does not answer in time."""
        if not self.actors:
            raise TimeoutError("the shard actors are not started")

        async def one(actor: Any) -> dict[str, Any]:
            call = _await(actor.anomaly_status.remote(rule_id))
            result: dict[str, Any] = await asyncio.wait_for(call, timeout=STATUS_TIMEOUT_SECONDS)
            return result

        try:
            parts = await asyncio.gather(*(one(actor) for actor in self.actors))
        except ray.exceptions.RayTaskError as exc:  # the actor's own exception, carried by Ray
            if isinstance(exc.cause, KeyError | ValueError):
                raise exc.cause from None
            raise
        if any(part.get("tenant") != tenant for part in parts):
            raise KeyError(rule_id)  # another tenant's rule is not found, as on every route
        return merged_status(list(parts))

    def _start_actor(self, shard: int) -> None:
        """Call `start()` on an actor in the background, once at a time per shard."""
        running = self._starting.get(shard)
        if running is not None and not running.done():
            return

        async def call() -> None:
            try:
                await asyncio.wait_for(_await(self.actors[shard].start.remote(self.nats_url)), START_TIMEOUT_SECONDS)
                log.info("shard %d started", shard, extra={"shard": shard})
            except Exception as exc:
                log.warning("starting shard %d failed: %s", shard, exc, extra={"shard": shard})

        self._starting[shard] = asyncio.create_task(call(), name=f"start-shard-{shard}")

    async def _tick_loop(self) -> None:
        while not self._stop.is_set():
            try:
                await self.tick()
            except Exception as exc:  # NATS down: the next tick carries the later time, nothing else is owed
                log.warning("tick failed: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.tick_interval)

    async def _supervise_loop(self) -> None:
        while not self._stop.is_set():
            for status in await self.status():
                if status["alive"] and not status.get("consuming"):
                    self._start_actor(int(status["shard"]))  # a restarted incarnation, or one that stopped
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), SUPERVISE_SECONDS)


async def _await(ref: Any) -> Any:
    """Await a Ray ObjectRef (a coroutine, so `asyncio.wait_for` can cancel it)."""
    return await ref
