"""The leader's metric polling: GET every active target on its interval, publish its samples as metric events.

Only the lease holder polls (a second replica would double every sample). Each poll goes through the egress guard,
its answer is read by the pure `services.common.domain.schedules.poll_answers`, its samples go to
`cep.internal.<tenant>` as JSON array bodies (the router splits an array into events; `Nats-Msg-Id` =
`poll:<target_id>:<poll ms>:<batch>`), and its snapshot (values, time, latency, status code, error) is written
to the `cep-polling-snapshots` bucket, where the gateway reads it. Polls stay on each target's interval grid; a
target whose poll is still running when its next slot comes skips that slot instead of piling up.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from nats.aio.client import Client
from nats.js.client import JetStreamContext
from nats.js.kv import KeyValue
from prometheus_client import Counter, Histogram

from services.common.domain.events.model import format_time
from services.common.domain.schedules.poll_answers import (
    MAX_BODY_BYTES,
    Reading,
    SourceError,
    batches,
    read_samples,
    sample_events,
    snapshot,
)
from services.common.domain.schedules.polling import next_due
from services.common.egress import EgressRefused, guarded_client
from services.common.messages import codec
from services.common.nats import subjects
from services.common.nats.lease import Lease
from services.common.nats.publishing import Outgoing, item_limit, publish_all
from services.scheduler.poll_targets import PollTarget, PollTargets, TargetKey
from services.scheduler.settings import SchedulerSettings
from services.scheduler.waiting import sleep_until_due

log = logging.getLogger(__name__)

POLLS = Counter("cep_scheduler_polls_total", "metric polls by result (ok, or the error kind)", ["result"])
SAMPLES = Counter("cep_scheduler_poll_samples_total", "samples published as metric events by metric polling")
LATENCY = Histogram(
    "cep_scheduler_poll_latency_seconds",
    "how long a metric poll's HTTP request took",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
POLLS_IN_FLIGHT = 32
RESTART_SECONDS = 1.0
_ACCEPT = {
    "json": "application/json",
    "prometheus": "text/plain;version=0.0.4;q=1.0, */*;q=0.1",  # the classic text format, not OpenMetrics
}


class Poller:
    """Polls due targets while `lease` is held; `poll` does one target once (the unit tests drive it directly)."""

    def __init__(
        self,
        nc: Client,
        js: JetStreamContext,
        snapshots: KeyValue,
        targets: PollTargets,
        settings: SchedulerSettings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.nc = nc
        self.js = js
        self.snapshots = snapshots
        self.targets = targets
        self.settings = settings
        self.clock = clock
        self.due: dict[TargetKey, tuple[int, datetime]] = {}  # (version, next poll time) per target
        self.running: dict[TargetKey, asyncio.Task[dict[str, Any]]] = {}

    # -- a term ----------------------------------------------------------------------------------------------
    async def run_term(self, lease: Lease, stop: asyncio.Event) -> None:
        """Poll due targets until the lease is no longer held or `stop` is set; a crash restarts the loop."""
        client = guarded_client(self.settings.egress_policy, limits=httpx.Limits(max_connections=POLLS_IN_FLIGHT))
        try:
            while lease.held and not stop.is_set():
                try:
                    await self._loop(client, lease, stop)
                except Exception:
                    log.exception("metric polling failed; starting over")
                    await _sleep(stop, RESTART_SECONDS)
        finally:
            await self._cancel_running()
            self.due = {}
            await client.aclose()

    async def _loop(self, client: httpx.AsyncClient, lease: Lease, stop: asyncio.Event) -> None:
        while lease.held and not stop.is_set():
            self.targets.changed.clear()
            now = self.clock()
            self._sync(now)
            for key, (version, at) in list(self.due.items()):
                if at > now:
                    continue
                target = self.targets.targets[key]
                self.due[key] = (version, next_due(at, target.spec.interval, now))
                if key in self.running:
                    log.warning("poll of %s still running at its next slot; slot skipped", target.spec.name)
                    continue
                task = asyncio.create_task(self._guarded(client, target, lease), name=f"poll-{target.target_id}")
                self.running[key] = task
                task.add_done_callback(functools.partial(self._finished, key))
            await self._sleep_until_due(stop)

    async def _guarded(self, client: httpx.AsyncClient, target: PollTarget, lease: Lease) -> dict[str, Any]:
        try:
            return await self.poll(client, target, lease)
        except Exception:  # a bug in one poll must not go unnoticed, nor stop the others
            log.exception("polling target %s failed unexpectedly", target.target_id)
            return {}

    def _finished(self, key: TargetKey, task: asyncio.Task[dict[str, Any]]) -> None:
        if self.running.get(key) is task:
            del self.running[key]

    def _sync(self, now: datetime) -> None:
        """New and changed targets are due now; removed ones are forgotten (a running poll of one finishes)."""
        current = self.targets.targets
        for key in [k for k in self.due if k not in current]:
            del self.due[key]
        for key, target in current.items():
            held = self.due.get(key)
            if held is None or held[0] != target.version:
                self.due[key] = (target.version, now)

    async def _sleep_until_due(self, stop: asyncio.Event) -> None:
        soonest = min((at for _, at in self.due.values()), default=None)
        await sleep_until_due(soonest, self.clock(), self.targets.changed, stop)

    async def _cancel_running(self) -> None:
        tasks = list(self.running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.running = {}

    # -- one poll --------------------------------------------------------------------------------------------
    async def poll(self, client: httpx.AsyncClient, target: PollTarget, lease: Lease | None = None) -> dict[str, Any]:
        """Poll one target once: fetch, read, publish its samples (only while `lease` is held), keep its snapshot."""
        at = self.clock()
        status: int | None = None
        latency_ms: float | None = None
        reading: Reading | None = None
        error: SourceError | None = None
        began = time.monotonic()
        try:
            status, body = await _fetch(client, target)
            latency_ms = (time.monotonic() - began) * 1000
            LATENCY.observe(latency_ms / 1000)
            if status >= 400:
                raise SourceError("http", f"HTTP {status}")
            reading = read_samples(target.spec, body)
        except SourceError as exc:
            error = exc
        if reading is not None and reading.samples and (lease is None or lease.held):
            error = await self._publish(target, reading, at)
        POLLS.labels("ok" if error is None else error.kind).inc()
        state = snapshot(target.target_id, target.spec, at, latency_ms, status, reading, error)
        try:
            await self.snapshots.put(subjects.polling_key(target.tenant, target.target_id), codec.dumps(state))
        except Exception as exc:  # the next poll writes a newer one
            log.warning("writing the snapshot of polling target %s failed: %s", target.target_id, exc)
        if error is not None:
            log.info("poll of target %s failed: %s", target.target_id, error, extra={"tenant": target.tenant})
        return state

    async def _publish(self, target: PollTarget, reading: Reading, at: datetime) -> SourceError | None:
        events = sample_events(target.target_id, target.spec, reading.samples, at)
        stamp, ms = format_time(at), int(at.timestamp() * 1000)
        messages = [
            Outgoing(
                subjects.internal_subject(target.tenant),
                body,
                subjects.polling_msg_id(target.target_id, ms, index),
                {subjects.RECEIVED_AT: stamp},
            )
            for index, body in enumerate(batches(events, item_limit(self.nc)))
        ]
        try:
            await publish_all(self.js, self.nc, messages)
        except Exception as exc:
            log.warning("publishing the samples of polling target %s failed: %s", target.target_id, exc)
            return SourceError("publish", f"the samples could not be published: {type(exc).__name__}")
        SAMPLES.inc(len(events))
        return None


async def _fetch(client: httpx.AsyncClient, target: PollTarget) -> tuple[int, bytes]:
    """GET the target (at most MAX_BODY_BYTES of its answer); every failure as a SourceError naming its kind."""
    spec = target.spec
    try:
        async with asyncio.timeout(spec.timeout):
            headers = {"Accept": _ACCEPT[spec.format]}
            async with client.stream("GET", spec.url, headers=headers, timeout=spec.timeout) as response:
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_BODY_BYTES:
                        raise SourceError("parse", f"the answer is over {MAX_BODY_BYTES} bytes")
                return response.status_code, bytes(body)
    except EgressRefused as exc:
        raise SourceError("egress", exc.reason) from None
    except (TimeoutError, httpx.TimeoutException):
        raise SourceError("timeout", f"no complete answer within {spec.timeout:g}s") from None
    except httpx.HTTPError as exc:
        raise SourceError("network", _short(exc)) from None
    except OSError as exc:
        raise SourceError("network", _short(exc)) from None


def _short(exc: Exception) -> str:
    return (str(exc) or type(exc).__name__).splitlines()[0][:300]


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
