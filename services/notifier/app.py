"""The notifier service shell: alerts -> delivery jobs, jobs -> attempts -> results, and channel tests, over NATS.

Two durable pull consumers, each a loop stopped by an Event:
- `notifier` on CEP_ALERTS: each notified transition becomes one job per action that names a channel, published
  to `cep.deliver.<tenant>` with `Nats-Msg-Id` = transition id + action index; the alert is acked after the PubAcks.
- `deliverer` on CEP_DELIVERY: one attempt per delivery of a job (attempt n = the message's delivery count); the
  result goes to `cep.results.<tenant>`, then the job is acked (final) or nak'ed with the retry backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
import nats.errors
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext
from nats.js.errors import KeyNotFoundError
from prometheus_client import Counter

from services.common import codec, subjects
from services.common.codec import ChannelEntry, DeliveryJob
from services.common.ops import Check, CheckResult
from services.common.service import NatsService
from services.common.streams import ensure_streams
from services.notifier.jobs import jobs_for
from services.notifier.pipeline import Attempted, Pipeline
from services.notifier.settings import NotifierSettings

log = logging.getLogger(__name__)

DELIVERIES = Counter(
    "cep_deliveries_total", "delivery attempts by channel type and outcome", ["channel_type", "status"]
)
CHANNEL_TESTS = Counter("cep_channel_tests_total", "channel tests by channel type and outcome", ["channel_type", "ok"])
FETCH_WAIT = 1.0  # seconds a pull waits for messages: also how fast a stop is noticed
ALERT_ACK_WAIT = 30.0
DELIVERY_ACK_WAIT = 90.0  # above the longest send (60 s), so a slow attempt is never handed to a second worker
DELIVERY_MAX_DELIVER = 12  # above the most attempts a channel may ask for (10)
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class KvDirectory:
    """Channels and rules from their KV buckets, read at attempt time (so a change is seen by the next attempt)."""

    def __init__(self, js: JetStreamContext) -> None:
        self.js = js

    async def _get(self, bucket: str, key: str) -> bytes | None:
        try:
            entry = await (await self.js.key_value(bucket)).get(key)
        except (KeyNotFoundError, ValueError):
            return None
        return entry.value or None

    async def channel(self, tenant: str, ref: str) -> ChannelEntry | None:
        """A channel of the tenant by id, else by name."""
        if not subjects.valid_tenant(tenant):
            return None
        if _ID.match(ref):
            found = await self._get(subjects.CHANNELS_BUCKET, subjects.channel_key(tenant, ref))
            if found:
                return ChannelEntry.decode(found)
        channel_id = await self._get(subjects.CHANNELS_BUCKET, subjects.channel_name_key(tenant, ref))
        if channel_id is None or not _ID.match(channel_id.decode()):
            return None
        found = await self._get(subjects.CHANNELS_BUCKET, subjects.channel_key(tenant, channel_id.decode()))
        return ChannelEntry.decode(found) if found else None

    async def rule(self, tenant: str, rule_id: str) -> dict[str, Any] | None:
        """The rule's canonical JSON as the rule bucket holds it (its latest version)."""
        if not subjects.valid_tenant(tenant) or not _ID.match(rule_id):
            return None
        found = await self._get(subjects.RULES_BUCKET, subjects.rule_key(tenant, rule_id))
        value = codec.loads(found) if found else None
        return value if isinstance(value, dict) else None


class NotifierService(NatsService):
    """The notifier, started as its own process by `cep up` (its own Deployment on Kubernetes)."""

    name = "notifier"

    def __init__(self, settings: NotifierSettings) -> None:
        super().__init__(settings, grpc_port=settings.notifier_grpc_port)
        # httpx logs every request URL at INFO; a URL may carry a secret (a Slack webhook URL is one).
        for noisy in ("httpx", "httpcore"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        self.notifier_settings = settings
        self.stopping = asyncio.Event()
        self.loops: dict[str, asyncio.Task[None]] = {}
        self.consuming: set[str] = set()
        self.http: httpx.AsyncClient | None = None
        self.pipeline: Pipeline | None = None
        self._setup: asyncio.Task[None] | None = None
        self._tests: set[asyncio.Task[None]] = set()
        self._pulls: list[JetStreamContext.PullSubscription] = []

    async def start(self) -> None:
        """Connect, then declare streams and consumers and run both loops in the background."""
        await super().start()
        self.stopping.clear()
        # No redirects: a channel's URL is the only place a delivery may go. No proxy variables from the environment.
        self.http = httpx.AsyncClient(follow_redirects=False, trust_env=False)
        self._setup = asyncio.create_task(self._run(), name="notifier-setup")

    async def _run(self) -> None:
        assert self.nc is not None and self.http is not None
        js = self.nc.jetstream()
        while not self.stopping.is_set():
            try:
                await ensure_streams(js)
                alerts = await _consumer(js, subjects.ALERTS_STREAM, subjects.ALERTS_PREFIX, subjects.NOTIFIER_CONSUMER)
                deliveries = await _consumer(
                    js,
                    subjects.DELIVERY_STREAM,
                    subjects.DELIVERY_PREFIX,
                    subjects.DELIVERY_CONSUMER,
                    ack_wait=DELIVERY_ACK_WAIT,
                    max_deliver=DELIVERY_MAX_DELIVER,
                )
                self._pulls = [alerts, deliveries]
                self.pipeline = Pipeline(KvDirectory(js), self.http, self.notifier_settings.retry_policy)
                await self.nc.subscribe(subjects.CHANNEL_TEST, queue=subjects.NOTIFIER_QUEUE, cb=self._on_test)
                break
            except Exception as exc:  # JetStream may still be starting; readiness says we are not consuming
                log.warning("notifier setup failed (%s); retrying", exc)
                await _sleep(self.stopping, 0.5)
        else:
            return
        pipeline = self.pipeline
        assert pipeline is not None
        self.loops = {
            "alerts": asyncio.create_task(self._alerts(js, alerts), name="notifier-alerts"),
            "deliveries": asyncio.create_task(self._deliveries(js, deliveries, pipeline), name="notifier-deliveries"),
        }

    # -- alerts -> jobs ----------------------------------------------------------------------------------------
    async def _alerts(self, js: JetStreamContext, sub: JetStreamContext.PullSubscription) -> None:
        self.consuming.add("alerts")
        while not self.stopping.is_set():
            messages = await _fetch(sub, self.notifier_settings.alert_batch)
            if messages:
                try:
                    await self._fan_out(js, messages)
                except Exception:  # never let one bad batch stop the loop; unacked alerts come back
                    log.exception("fanning out %d alert(s) failed", len(messages))
        self.consuming.discard("alerts")

    async def _fan_out(self, js: JetStreamContext, messages: list[Msg]) -> None:
        """Publish the jobs of a batch of alerts concurrently; ack each alert once all its jobs are stored."""
        planned: list[tuple[Msg, list[DeliveryJob]]] = []
        for msg in messages:
            try:
                transition, actions = codec.alert_from(msg.data)
            except Exception as exc:
                log.warning("dropping a malformed alert: %s", type(exc).__name__)
                await msg.term()
                continue
            planned.append((msg, jobs_for(transition, actions)))
        publishes = [
            js.publish(subjects.delivery_subject(job.tenant), job.encode(), headers={subjects.MSG_ID: job.msg_id()})
            for _, jobs in planned
            for job in jobs
        ]
        outcomes = iter(await asyncio.gather(*publishes, return_exceptions=True))
        for msg, jobs in planned:
            failures = [o for o in (next(outcomes) for _ in jobs) if isinstance(o, BaseException)]
            if failures:
                log.warning("publishing delivery jobs failed (%s); the alert comes back", failures[0])
                await msg.nak(delay=1.0)
            else:
                await msg.ack()

    # -- jobs -> attempts -> results ---------------------------------------------------------------------------
    async def _deliveries(
        self, js: JetStreamContext, sub: JetStreamContext.PullSubscription, pipeline: Pipeline
    ) -> None:
        self.consuming.add("deliveries")
        limit = self.notifier_settings.delivery_concurrency
        inflight: set[asyncio.Task[None]] = set()
        while not self.stopping.is_set():
            if len(inflight) >= limit:
                await asyncio.wait(inflight, return_when=asyncio.FIRST_COMPLETED)
                continue
            for msg in await _fetch(sub, min(limit - len(inflight), 32)):
                task = asyncio.create_task(self._deliver(js, pipeline, msg))
                inflight.add(task)
                task.add_done_callback(inflight.discard)
        self.consuming.discard("deliveries")
        if inflight:  # let attempts in flight finish briefly; an unfinished one is redelivered after the ack wait
            await asyncio.wait(inflight, timeout=5)

    async def _deliver(self, js: JetStreamContext, pipeline: Pipeline, msg: Msg) -> None:
        try:
            job = DeliveryJob.decode(msg.data)
        except Exception as exc:
            log.warning("dropping a malformed delivery job: %s", type(exc).__name__)
            await msg.term()
            return
        attempt = msg.metadata.num_delivered
        context = {"tenant": job.tenant, "event_id": job.transition.event_id, "transition_id": job.msg_id()}
        try:
            attempted = await pipeline.attempt(job, attempt, datetime.now(UTC))
            result = attempted.result
            await js.publish(
                subjects.results_subject(job.tenant),
                codec.dumps(result.as_dict()),
                headers={subjects.MSG_ID: result.msg_id()},
            )
        except Exception:
            log.exception("delivery attempt %d could not complete; it comes back", attempt, extra=context)
            await msg.nak(delay=pipeline.policy.backoff(attempt, 0.5))
            return
        DELIVERIES.labels(result.type, result.status).inc()
        _log_attempt(attempted, context)
        if attempted.decision.final:
            await msg.ack_sync()
        else:
            await msg.nak(delay=attempted.decision.delay)

    # -- channel tests -----------------------------------------------------------------------------------------
    async def _on_test(self, msg: Msg) -> None:
        # Callbacks of one subscription run one at a time: a slow endpoint must not hold up the next test.
        task = asyncio.create_task(self._answer_test(msg))
        self._tests.add(task)
        task.add_done_callback(self._tests.discard)

    async def _answer_test(self, msg: Msg) -> None:
        try:
            assert self.pipeline is not None  # the subscription exists only once the pipeline does
            channel = ChannelEntry.decode(msg.data)
            outcome = await self.pipeline.test(channel, datetime.now(UTC))
            answer = {
                "ok": outcome.ok,
                "status_code": outcome.status_code,
                "latency_ms": outcome.latency_ms,
                "error": outcome.error_dict(),
            }
            CHANNEL_TESTS.labels(channel.type, str(outcome.ok).lower()).inc()
        except Exception as exc:
            log.warning("channel test failed to run: %s", type(exc).__name__)
            error = {"kind": "config", "detail": "the test request could not be run"}
            answer = {"ok": False, "status_code": None, "latency_ms": None, "error": error}
        with contextlib.suppress(Exception):
            await msg.respond(codec.dumps(answer))

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def checks(self) -> Mapping[str, Check]:
        return {**super().checks(), "consumers": self._check_consumers}

    async def _check_consumers(self) -> CheckResult:
        running = sorted(name for name, task in self.loops.items() if not task.done() and name in self.consuming)
        return CheckResult(running == ["alerts", "deliveries"], {"consuming": running})

    async def stop(self) -> None:
        self.stopping.set()
        waiting: list[Awaitable[Any]] = [t for t in (self._setup, *self.loops.values()) if t is not None]
        if waiting:
            await asyncio.wait([asyncio.ensure_future(w) for w in waiting], timeout=8)
        for pull in self._pulls:
            # nats-py 2.16: drain() waits its full 30 s timeout on a pull subscription whose last fetch timed out.
            with contextlib.suppress(Exception):
                await pull.unsubscribe()
        if self.http is not None:
            await self.http.aclose()
        await super().stop()


async def _consumer(
    js: JetStreamContext,
    stream: str,
    prefix: str,
    durable: str,
    *,
    ack_wait: float = ALERT_ACK_WAIT,
    max_deliver: int = -1,
) -> JetStreamContext.PullSubscription:
    """Bind the durable pull consumer (created with this config the first time)."""
    config = ConsumerConfig(
        durable_name=durable,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=ack_wait,
        max_deliver=max_deliver,
        max_ack_pending=1000,
        filter_subject=f"{prefix}.*",
    )
    return await js.pull_subscribe(f"{prefix}.*", durable=durable, stream=stream, config=config)


async def _fetch(sub: JetStreamContext.PullSubscription, batch: int) -> list[Msg]:
    try:
        return await sub.fetch(batch, timeout=FETCH_WAIT)
    except nats.errors.TimeoutError:
        return []
    except Exception as exc:  # NATS reconnecting: back off a little and try again
        log.warning("fetch failed: %s", exc)
        await asyncio.sleep(0.5)
        return []


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def _log_attempt(attempted: Attempted, context: dict[str, str]) -> None:
    result, decision = attempted.result, attempted.decision
    level = logging.INFO if result.status == "sent" else logging.WARNING
    log.log(
        level,
        "delivery %s via %s %s (attempt %d): %s%s",
        result.status,
        result.type,
        result.channel_id or "-",
        result.attempt,
        decision.reason,
        f" [{result.error}]" if result.error else "",
        extra={**context, "channel": result.channel},
    )
