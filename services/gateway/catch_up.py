"""The gateway's catch-up horizon: reads the pipeline's positions and lets the pure core decide how far it has come.

A reading asks, in pipeline order: CEP_EVENTS' last sequence and the router's consumer (each partition's, the
slowest counting), CEP_WORK's last sequence,
the evaluator's shards (its `/readyz`: each shard's done sequence, pending work and the clock of its latest
published tick), CEP_ALERTS' last sequence and the recorder's consumer. What the readings mean, and why the
horizon they yield is sound, is in services/common/domain/lifecycle/catch_up.py. A reading that fails (NATS or
the evaluator unreachable, a shard not answering) moves nothing: the horizon waits, so do the judgements on it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from nats.js.api import ConsumerInfo

from services.common.domain.events.model import parse_time
from services.common.domain.lifecycle.catch_up import CatchUp, Position, Reading, ShardPosition, StepReason, advance
from services.common.nats import subjects
from services.common.nats.router_partitions import is_router_consumer
from services.gateway.nats.bus import GatewayBus

log = logging.getLogger(__name__)

READ_TIMEOUT_SECONDS = 2.5
READINGS_PER_UPDATE = 3  # one phase per reading: a quiet pipeline catches up within one update
WAITING: frozenset[StepReason] = frozenset({"routing", "evaluating", "recording", "caught_up"})


class ReadingFailed(RuntimeError):
    """A position could not be read (the message names which); the horizon stays where it is."""


class PipelineCatchUp:
    """The horizon of one gateway, from its start (None until the pipeline has caught up once)."""

    def __init__(
        self, bus: GatewayBus, evaluator_url: str, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.bus = bus
        self.evaluator_url = evaluator_url.rstrip("/")
        self.clock = clock
        self.state = CatchUp()
        self.reason: StepReason | str = "not read yet"
        self._client: httpx.AsyncClient | None = None  # kept across readings: a new one builds a TLS context (ms)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    @property
    def horizon(self) -> datetime | None:
        return self.state.horizon

    async def update(self) -> datetime | None:
        """Take up to READINGS_PER_UPDATE readings, each moving the candidate by a phase; return the horizon."""
        for _ in range(READINGS_PER_UPDATE):
            try:
                reading = await self.read()
            except Exception as exc:
                self.reason = f"reading failed: {exc}"
                log.debug("catch-up: %s", self.reason)
                break
            step = advance(self.state, reading)
            self.state, self.reason = step.state, step.reason
            if step.reason in WAITING:
                break
        return self.state.horizon

    async def read(self) -> Reading:
        """One reading of the positions, in pipeline order (see the module docstring)."""
        js = self.bus.js
        started = self.clock()
        events = await js.stream_info(subjects.EVENTS_STREAM)
        routers = [info for info in await js.consumers_info(subjects.EVENTS_STREAM) if is_router_consumer(info.name)]
        if not routers:
            raise ReadingFailed("no router consumer on the raw stream")
        work = await js.stream_info(subjects.WORK_STREAM)
        shards = await self._shards()
        alerts = await js.stream_info(subjects.ALERTS_STREAM)
        recorder = await js.consumer_info(subjects.ALERTS_STREAM, subjects.RECORDER_CONSUMER)
        return Reading(
            started=started,
            events_last=int(events.state.last_seq),
            router=_routers_position(routers),
            work_last=int(work.state.last_seq),
            shards=shards,
            alerts_last=int(alerts.state.last_seq),
            recorder=_position(recorder),
            finished=self.clock(),
        )

    async def _shards(self) -> tuple[ShardPosition, ...]:
        """Every shard's position from the evaluator's `/readyz` (answered with 200 or 503, both with checks)."""
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=READ_TIMEOUT_SECONDS)
        response = await self._client.get(f"{self.evaluator_url}/readyz")
        try:
            shards = response.json()["checks"]["shards"]["detail"]["shards"]
        except (ValueError, KeyError, TypeError):
            raise ReadingFailed(f"the evaluator's /readyz has no shards (HTTP {response.status_code})") from None
        return tuple(_shard(shard) for shard in shards)


def _position(info: ConsumerInfo) -> Position:
    floor = info.ack_floor.stream_seq if info.ack_floor is not None else 0
    return Position(int(floor or 0), _count(info.num_pending), _count(info.num_ack_pending))


def _routers_position(routers: list[ConsumerInfo]) -> Position:
    """The router partitions' consumers as one: past a mark only when each is (the slowest ack floor decides).

    Sound because a router consumer reads every subject of the stream: once it has nothing pending nor unacked,
    its ack floor is the stream's last sequence, so "past" is "ack floor at the mark" for each of them.
    """
    positions = [_position(info) for info in routers]
    pending = [p.pending for p in positions]
    acks = [p.ack_pending for p in positions]
    return Position(
        min(p.done for p in positions),
        None if None in pending else sum(n for n in pending if n is not None),
        None if None in acks else sum(n for n in acks if n is not None),
    )


def _shard(status: dict[str, Any]) -> ShardPosition:
    if not status.get("alive") or not status.get("consuming"):
        raise ReadingFailed(f"shard {status.get('shard')} is not consuming")
    clock = status.get("clock")
    return ShardPosition(
        int(status.get("last_seq") or 0),
        _count(status.get("pending")),
        _count(status.get("ack_pending")),
        parse_time(clock) if isinstance(clock, str) else None,
    )


def _count(value: Any) -> int | None:
    return None if value is None else int(value)
