"""The notifier service shell: alerts -> stages -> delivery jobs -> attempts -> results, over NATS.

Three durable pull consumers (consumers.py), each the common durable consumer loop stopped by an Event:
- `notifier` on CEP_ALERTS (`cep.alerts.*`): alerts through the stages into delivery jobs (alert_intake.py,
  stages/multistage.py);
- `notifier-acks` on CEP_ALERTS (`cep.acks.*`): ACK notices into `acknowledge` jobs (ack_intake.py);
- `deliverer` on CEP_DELIVERY: one attempt per delivery of a job, its result to `cep.results.<tenant>`
  (deliverer.py; storm digests and alert groups in digest_jobs.py and group_jobs.py).
Channel tests are core NATS requests answered by channel_tests.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping
from functools import partial
from typing import Any

import httpx
from nats.js.client import JetStreamContext

from services.common.egress import guarded_client
from services.common.nats import subjects
from services.common.nats.durable_consumer import DurableConsumer, pause
from services.common.nats.streams import ensure_streams
from services.common.ops import Check, CheckResult
from services.common.service import NatsService
from services.notifier.consumers import (
    DELIVERY_ACK_WAIT,
    DELIVERY_MAX_ACK_PENDING,
    DELIVERY_MAX_DELIVER,
    bind_consumer,
)
from services.notifier.delivery.attempts import Pipeline
from services.notifier.delivery.deliverer import Deliverer
from services.notifier.delivery.directory import KvDirectory
from services.notifier.delivery.reports import NatsReports
from services.notifier.intake.ack_intake import AckIntake
from services.notifier.intake.alert_intake import AlertIntake
from services.notifier.intake.channel_tests import ChannelTests
from services.notifier.muting.mirrors import InhibitRuleMirror, SilenceMirror
from services.notifier.muting.open_alerts import SWEEP_SECONDS, ClosingMirror, OpenAlerts, sweep
from services.notifier.routing.policies import PolicyMirror, PolicyRouting
from services.notifier.settings import NotifierSettings
from services.notifier.stages.cooldown import MarkStore
from services.notifier.stages.multistage import MultiStage
from services.notifier.stages.muting import MutingSources
from services.notifier.stages.storm import StormStore
from services.notifier.timed_jobs.digests import Digests
from services.notifier.timed_jobs.groups import Groups, GroupStore

log = logging.getLogger(__name__)

SETUP_RETRY_SECONDS = 0.5  # JetStream may still be starting
MIRROR_WAIT_SECONDS = 0.05


class NotifierService(NatsService):
    """The notifier, started as its own process by `cep up` (its own Deployment on Kubernetes)."""

    name = "notifier"

    def __init__(self, settings: NotifierSettings) -> None:
        super().__init__(settings, grpc_port=settings.notifier_grpc_port)
        # httpx logs every request URL at INFO; a URL may carry a secret (a Slack webhook URL is one).
        for noisy in ("httpx", "httpcore"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        self.notifier_settings = settings
        self.secret_box = settings.secret_box()  # opens channel secrets; no key, no notifier (SecretsKeyError)
        self.stopping = asyncio.Event()
        self.loops: dict[str, asyncio.Task[None]] = {}
        self.consumers: dict[str, DurableConsumer] = {}
        self.http: httpx.AsyncClient | None = None
        self.pipeline: Pipeline | None = None
        self.channel_tests: ChannelTests | None = None
        self._setup: asyncio.Task[None] | None = None
        self.mirrors: list[asyncio.Task[None]] = []
        self.muting: MutingSources | None = None
        self.policies: PolicyMirror | None = None

    async def start(self) -> None:
        """Connect, then declare streams and consumers and run the loops in the background."""
        await super().start()
        self.stopping.clear()
        # No redirects: a channel's URL is the only place a delivery may go. No proxy variables from the environment.
        # Every connection passes the egress guard (CEP_EGRESS_ALLOW): internal addresses are refused, kind `egress`.
        self.http = guarded_client(self.notifier_settings.egress_policy, follow_redirects=False, trust_env=False)
        self._setup = asyncio.create_task(self._run(), name="notifier-setup")

    async def _run(self) -> None:
        assert self.nc is not None and self.http is not None
        js = self.nc.jetstream()
        settings = self.notifier_settings
        while not self.stopping.is_set():
            try:
                await ensure_streams(js)
                directory = KvDirectory(js, self.secret_box)
                noise_kv = await js.key_value(subjects.NOISE_BUCKET)
                storms, group_store = StormStore(noise_kv), GroupStore(noise_kv)
                sent = await js.key_value(subjects.SENT_BUCKET)
                muting = await self._muting(js)
                policies = self._policies(js)
                groups = Groups(directory, group_store, muting, policies=policies)
                self.pipeline = pipeline = Pipeline(
                    directory,
                    self.http,
                    settings.retry_policy,
                    egress=settings.egress_policy,
                    reports=NatsReports(self.nc),
                )
                routing = PolicyRouting(policies, directory)
                stages = MultiStage(directory, MarkStore(noise_kv), storms, group_store, muting, routing=routing)
                intake = AlertIntake(js, stages, settings.alert_batch)
                ack_intake = AckIntake(js, directory, groups)
                deliverer = Deliverer(
                    js, pipeline, sent, Digests(directory, storms), groups, settings.delivery_concurrency
                )
                self.channel_tests = ChannelTests(pipeline, self.secret_box)
                await self.nc.subscribe(
                    subjects.CHANNEL_TEST, queue=subjects.NOTIFIER_QUEUE, cb=self.channel_tests.on_request
                )
                break
            except Exception as exc:  # JetStream may still be starting; readiness says we are not consuming
                log.warning("notifier setup failed (%s); retrying", exc)
                await pause(self.stopping, SETUP_RETRY_SECONDS)
        else:
            return
        # Never decide a notification before the silences and the notification policies are known.
        if not await self._loaded(muting) or not await self._policies_loaded(policies):
            return
        bind = partial(bind_consumer, js)
        alerts = intake.consumer(
            partial(bind, subjects.ALERTS_STREAM, subjects.ALERTS_PREFIX, subjects.NOTIFIER_CONSUMER)
        )
        acks = ack_intake.consumer(
            partial(bind, subjects.ALERTS_STREAM, subjects.ACKS_PREFIX, subjects.NOTIFIER_ACKS_CONSUMER)
        )
        deliveries = deliverer.consumer(
            partial(
                bind,
                subjects.DELIVERY_STREAM,
                subjects.DELIVERY_PREFIX,
                subjects.DELIVERY_CONSUMER,
                ack_wait=DELIVERY_ACK_WAIT,
                max_deliver=DELIVERY_MAX_DELIVER,
                max_ack_pending=DELIVERY_MAX_ACK_PENDING,
            )
        )
        self.consumers = {"alerts": alerts, "acks": acks, "deliveries": deliveries}
        self.loops = {
            "alerts": asyncio.create_task(alerts.run(self.stopping), name="notifier-alerts"),
            "acks": asyncio.create_task(acks.run(self.stopping), name="notifier-acks"),
            "deliveries": asyncio.create_task(deliverer.run(deliveries, self.stopping), name="notifier-deliveries"),
        }

    async def _muting(self, js: JetStreamContext) -> MutingSources:
        """The muting stage's sources, their mirrors following their buckets until the service stops."""
        if self.muting is not None:  # a setup retried after a later step failed: the mirrors run already
            return self.muting
        open_kv = await js.key_value(subjects.OPEN_ALERTS_BUCKET)
        open_mirror = ClosingMirror()
        sources = MutingSources(
            SilenceMirror(),
            InhibitRuleMirror(),
            OpenAlerts(open_kv, open_mirror, self.notifier_settings.open_alerts_per_tenant),
        )
        for mirror in (sources.silences, sources.rules, open_mirror):
            self.mirrors.append(asyncio.create_task(mirror.follow(js, self.stopping), name=f"mirror-{mirror.bucket}"))
        self.mirrors.append(asyncio.create_task(self._sweep(js), name="open-alerts-sweep"))
        self.muting = sources
        return sources

    def _policies(self, js: JetStreamContext) -> PolicyMirror:
        """The notification policies' mirror, following its bucket until the service stops."""
        if self.policies is None:  # a setup retried after a later step failed: the mirror runs already
            self.policies = PolicyMirror()
            task = asyncio.create_task(self.policies.follow(js, self.stopping), name="mirror-policies")
            self.mirrors.append(task)
        return self.policies

    async def _policies_loaded(self, policies: PolicyMirror) -> bool:
        """Wait until the policies' mirror has read its bucket; False when the service stops first."""
        while not policies.loaded.is_set():
            if self.stopping.is_set():
                return False
            await pause(self.stopping, MIRROR_WAIT_SECONDS)
        return True

    async def _sweep(self, js: JetStreamContext) -> None:
        """Remove old delete markers of closed alerts from the open-alert bucket, every SWEEP_SECONDS."""
        while not self.stopping.is_set():
            await pause(self.stopping, SWEEP_SECONDS)
            if self.stopping.is_set():
                return
            try:
                removed = await sweep(js)
                log.info("removed %d delete markers of closed alerts", removed)
            except Exception as exc:  # the next sweep tries again; the markers only take room meanwhile
                log.warning("sweeping the open-alert bucket failed (%s)", exc)

    async def _loaded(self, muting: MutingSources) -> bool:
        """Wait until every muting mirror has read its bucket; False when the service stops first."""
        while not muting.loaded:
            if self.stopping.is_set():
                return False
            await pause(self.stopping, MIRROR_WAIT_SECONDS)
        return True

    def checks(self) -> Mapping[str, Check]:
        return {
            **super().checks(),
            "consumers": self._check_consumers,
            "muting": self._check_muting,
            "routing": self._check_routing,
        }

    async def _check_routing(self) -> CheckResult:
        if self.policies is None:
            return CheckResult(False, {"waiting": "setting up"})
        if not self.policies.loaded.is_set():
            return CheckResult(False, {"loading": ["notification_policies"]})
        return CheckResult(True, {"policies": len(self.policies.items)})

    async def _check_muting(self) -> CheckResult:
        if self.muting is None:
            return CheckResult(False, {"waiting": "setting up"})
        loaded = {
            "silences": self.muting.silences.loaded,
            "inhibit_rules": self.muting.rules.loaded,
            "open_alerts": self.muting.open_alerts.mirror.loaded,
        }
        loading = sorted(name for name, event in loaded.items() if not event.is_set())
        if loading:
            return CheckResult(False, {"loading": loading})
        return CheckResult(True, {"loaded": sorted(loaded)})

    async def _check_consumers(self) -> CheckResult:
        running = sorted(name for name, task in self.loops.items() if not task.done() and self.consumers[name].bound)
        if running == ["acks", "alerts", "deliveries"]:
            return CheckResult(True, {"consuming": running})
        why = {
            name: c.check().detail.get("why", "stopped") for name, c in self.consumers.items() if name not in running
        }
        return CheckResult(False, {"consuming": running, "waiting": why or "setting up"})

    async def stop(self) -> None:
        self.stopping.set()
        for mirror in self.mirrors:  # a watch waits up to 5 s for its next entry before it looks at `stopping`
            mirror.cancel()
        tasks = (self._setup, *self.loops.values(), *self.mirrors)
        waiting: list[Awaitable[Any]] = [t for t in tasks if t is not None]
        if waiting:
            await asyncio.wait([asyncio.ensure_future(w) for w in waiting], timeout=8)
        # A later start loads the buckets afresh.
        self.mirrors = []
        self.muting = None
        self.policies = None
        if self.http is not None:
            await self.http.aclose()
        await super().stop()
