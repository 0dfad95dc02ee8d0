"""The scheduler service shell: rules from the rule bucket, the leader lease, heartbeats, and the leader's runner.

Every replica watches the rules and heartbeats; the one holding the lease runs the Runner. gRPC serves only the
shared Ops.Status: the gateway reads scheduler figures from SQL (run records) and the live bucket directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Mapping
from datetime import UTC, datetime
from typing import Any

from nats.js.kv import KeyValue
from prometheus_client import Gauge

from services.common.nats import subjects
from services.common.nats.lease import Lease, SchedulerLease
from services.common.nats.streams import ensure_scheduler_live_bucket, ensure_streams
from services.common.ops import Check, CheckResult
from services.common.service import NatsService
from services.scheduler.instances import beat
from services.scheduler.poll_targets import PollTargets
from services.scheduler.poller import Poller
from services.scheduler.schedule_rules import ScheduleRules
from services.scheduler.schedule_runner import LeaseLost, Runner
from services.scheduler.settings import SchedulerSettings

log = logging.getLogger(__name__)

LEADER = Gauge("cep_scheduler_leader", "1 while this instance holds the scheduler lease")
RULES = Gauge("cep_scheduler_rules", "active schedule rules this instance knows")
SETUP_RETRY_SECONDS = 0.5


class SchedulerService(NatsService):
    """The scheduler, started as its own process by `cep up` (its own Deployment on Kubernetes)."""

    name = "scheduler"

    def __init__(self, settings: SchedulerSettings) -> None:
        super().__init__(settings, grpc_port=settings.scheduler_grpc_port)
        self.scheduler_settings = settings
        self.stopping = asyncio.Event()
        self.rules = ScheduleRules()
        self.poll_targets = PollTargets()
        self.lease: Lease | None = None
        self.started_at = datetime.now(UTC)
        self._tasks: list[asyncio.Task[None]] = []
        self._setup: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await super().start()
        self.stopping.clear()
        self._setup = asyncio.create_task(self._run(), name="scheduler-setup")

    async def stop(self) -> None:
        """Stop firing, give the lease up (a follower takes over at once), then disconnect."""
        self.stopping.set()
        tasks = [t for t in (self._setup, *self._tasks) if t is not None]
        await asyncio.gather(*tasks, return_exceptions=True)
        await super().stop()

    async def _run(self) -> None:
        assert self.nc is not None
        js = self.nc.jetstream()
        period = self.scheduler_settings.scheduler_lease_seconds
        while not self.stopping.is_set():
            try:
                await ensure_streams(js)
                live = await ensure_scheduler_live_bucket(js, period)
                state = await js.key_value(subjects.SCHEDULER_BUCKET)
                snapshots = await js.key_value(subjects.POLLING_SNAPSHOTS_BUCKET)
                break
            except Exception as exc:  # JetStream may still be starting; readiness says why
                log.warning("scheduler setup failed (%s); retrying", exc)
                await _sleep(self.stopping, SETUP_RETRY_SECONDS)
        else:
            return
        self.lease = SchedulerLease(live, self.scheduler_settings.scheduler_instance, period)
        runner = Runner(self.nc, js, state, self.rules, self.scheduler_settings)
        poller = Poller(self.nc, js, snapshots, self.poll_targets, self.scheduler_settings)
        self._tasks = [
            asyncio.create_task(self.rules.follow(js, self.stopping), name="scheduler-rules"),
            asyncio.create_task(self.poll_targets.follow(js, self.stopping), name="scheduler-poll-targets"),
            asyncio.create_task(self._heartbeats(live, self.lease), name="scheduler-heartbeats"),
            asyncio.create_task(self._lead(self.lease, runner, poller), name="scheduler-lease"),
        ]

    async def _lead(self, lease: Lease, runner: Runner, poller: Poller) -> None:
        """Try for the lease; while held, renew it and run the runner; give it up on stop."""
        await _until(self.stopping, self.rules.loaded.wait())
        poll = min(max(lease.period / 10, 0.05), 1.0)
        while not self.stopping.is_set():
            if not await lease.try_acquire():
                await _sleep(self.stopping, poll)
                continue
            LEADER.set(1)
            try:
                await self._term(lease, runner, poller)
            finally:
                LEADER.set(0)
        await lease.release()

    async def _term(self, lease: Lease, runner: Runner, poller: Poller) -> None:
        work = asyncio.create_task(runner.run_term(lease, self.stopping), name="scheduler-runner")
        # Metric polling runs beside the runner for the term; it ends with the term (lease lost, stop).
        polls = asyncio.create_task(poller.run_term(lease, self.stopping), name="scheduler-poller")
        try:
            while lease.held and not self.stopping.is_set() and not work.done():
                await asyncio.wait({work}, timeout=lease.renew_every)
                if not work.done() and not self.stopping.is_set():
                    await lease.renew()
        finally:
            polls.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await polls
            if not work.done():
                work.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                try:
                    await work
                except LeaseLost as exc:
                    log.warning("scheduler term ended: %s", exc)
                except Exception:
                    log.exception("the scheduler runner failed; giving the lease up")
                    await lease.release()

    async def _heartbeats(self, live: KeyValue, lease: Lease) -> None:
        while not self.stopping.is_set():
            RULES.set(len(self.rules.rules))
            try:
                await beat(live, lease, self.started_at, len(self.rules.rules))
            except Exception as exc:
                log.warning("scheduler heartbeat failed: %s", exc)
            await _sleep(self.stopping, lease.renew_every)

    def checks(self) -> Mapping[str, Check]:
        return {**super().checks(), "scheduler": self._check}

    async def _check(self) -> CheckResult:
        if self.lease is None:
            return CheckResult(False, "declaring streams and buckets")
        if not self.rules.loaded.is_set():
            return CheckResult(False, "reading the rule bucket")
        role = "leader" if self.lease.held else "follower"
        detail = {"instance": self.lease.instance, "role": role, "rules": len(self.rules.rules)}
        return CheckResult(True, detail)


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def _until(stop: asyncio.Event, work: Coroutine[Any, Any, Any]) -> None:
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        task.cancel()
        stopper.cancel()
