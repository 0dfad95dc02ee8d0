"""The notifier service shell: alerts -> noise stage -> delivery jobs -> attempts -> results, over NATS.

Three durable pull consumers, each a loop stopped by an Event:
- `notifier` on CEP_ALERTS (`cep.alerts.*`): a batch of transitions goes through the noise stage (fanout.py:
  cooldown, storm budget); what passes becomes one job per action that names a channel, published to
  `cep.deliver.<tenant>` with `Nats-Msg-Id` = transition id + action index; what does not becomes a `suppressed`
  result, and a storm's first suppression a digest timer. The alerts are acked after the PubAcks.
- `notifier-acks` on CEP_ALERTS (`cep.acks.*`): ACK notices become `acknowledge` jobs for incident channels.
- `deliverer` on CEP_DELIVERY: one attempt per delivery of a job (attempt n = the message's delivery count); the
  result goes to `cep.results.<tenant>`, then the job is acked (final) or nak'ed with the retry backoff. A job
  already recorded as sent (KV `cep-sent`) is not sent again; a job that fails for good goes to CEP_DEAD; every
  failed attempt is also a `cep.notification.failed` event in the pipeline (escalation.py). Digest timers wait
  in this stream (nak with a delay) until their window ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
import nats.errors
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue
from prometheus_client import Counter

from services.common import codec, subjects
from services.common.codec import ChannelEntry, DeliveryJob, DeliveryResult, DigestJob, GroupJob
from services.common.domain.events import format_time
from services.common.egress import guarded_client
from services.common.ops import Check, CheckResult
from services.common.service import NatsService
from services.common.streams import ensure_streams
from services.notifier.acks import ack_jobs
from services.notifier.digests import Digests
from services.notifier.escalation import failure_event, failure_msg_id
from services.notifier.fanout import FanOut, NoiseStore
from services.notifier.groups import Groups, GroupStore
from services.notifier.pipeline import Attempted, Pipeline
from services.notifier.reports import NatsReports
from services.notifier.settings import NotifierSettings

log = logging.getLogger(__name__)

DELIVERIES = Counter(
    "cep_deliveries_total", "delivery attempts by channel type and outcome", ["channel_type", "status"]
)
SUPPRESSED = Counter("cep_notifications_suppressed_total", "notifications a noise stage stopped, by stage", ["stage"])
DIGESTS = Counter("cep_storm_digests_total", "storm digests sent, by outcome", ["status"])
CHANNEL_TESTS = Counter("cep_channel_tests_total", "channel tests by channel type and outcome", ["channel_type", "ok"])
FETCH_WAIT = 1.0  # seconds a pull waits for messages: also how fast a stop is noticed
ALERT_ACK_WAIT = 30.0
# A job in a killed notifier comes back after this; an attempt in progress says so every WORKING_BEAT seconds
# (even a 60 s send), so a slow attempt is never handed to a second worker.
DELIVERY_ACK_WAIT = 15.0
WORKING_BEAT = 5.0
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
        self.fanout: FanOut | None = None
        self.digests: Digests | None = None
        self.groups: Groups | None = None
        self.sent: KeyValue | None = None
        self._setup: asyncio.Task[None] | None = None
        self._tests: set[asyncio.Task[None]] = set()
        self._pulls: list[JetStreamContext.PullSubscription] = []

    async def start(self) -> None:
        """Connect, then declare streams and consumers and run both loops in the background."""
        await super().start()
        self.stopping.clear()
        # No redirects: a channel's URL is the only place a delivery may go. No proxy variables from the environment.
        # Every connection passes the egress guard (CEP_EGRESS_ALLOW): internal addresses are refused, kind `egress`.
        self.http = guarded_client(self.notifier_settings.egress_policy, follow_redirects=False, trust_env=False)
        self._setup = asyncio.create_task(self._run(), name="notifier-setup")

    async def _run(self) -> None:
        assert self.nc is not None and self.http is not None
        js = self.nc.jetstream()
        while not self.stopping.is_set():
            try:
                await ensure_streams(js)
                alerts = await _consumer(js, subjects.ALERTS_STREAM, subjects.ALERTS_PREFIX, subjects.NOTIFIER_CONSUMER)
                acks = await _consumer(
                    js, subjects.ALERTS_STREAM, subjects.ACKS_PREFIX, subjects.NOTIFIER_ACKS_CONSUMER
                )
                deliveries = await _consumer(
                    js,
                    subjects.DELIVERY_STREAM,
                    subjects.DELIVERY_PREFIX,
                    subjects.DELIVERY_CONSUMER,
                    ack_wait=DELIVERY_ACK_WAIT,
                    max_deliver=DELIVERY_MAX_DELIVER,
                )
                self._pulls = [alerts, acks, deliveries]
                directory = KvDirectory(js)
                noise_kv = await js.key_value(subjects.NOISE_BUCKET)
                noise, group_store = NoiseStore(noise_kv), GroupStore(noise_kv)
                self.sent = await js.key_value(subjects.SENT_BUCKET)
                self.fanout = FanOut(directory, noise, group_store)
                self.groups = Groups(directory, group_store)
                self.digests = Digests(directory, noise)
                self.pipeline = Pipeline(
                    directory,
                    self.http,
                    self.notifier_settings.retry_policy,
                    egress=self.notifier_settings.egress_policy,
                    reports=NatsReports(self.nc),
                )
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
            "acks": asyncio.create_task(self._acks(js, acks), name="notifier-acks"),
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
        """Plan a batch (noise stage), publish its jobs, results and timers concurrently, save the noise state,
        then ack every alert; a failed publish naks the whole batch (re-publishing is de-duplicated)."""
        assert self.fanout is not None
        alerts, taken = [], []
        for msg in messages:
            try:
                alerts.append(codec.alert_from(msg.data))
                taken.append(msg)
            except Exception as exc:
                log.warning("dropping a malformed alert: %s", type(exc).__name__)
                await msg.term()
        plan = await self.fanout.plan(alerts)
        publishes = [
            *(
                js.publish(subjects.delivery_subject(j.tenant), j.encode(), headers={subjects.MSG_ID: j.msg_id()})
                for j in plan.jobs
            ),
            *(
                js.publish(
                    subjects.results_subject(r.tenant), codec.dumps(r.as_dict()), headers={subjects.MSG_ID: r.msg_id()}
                )
                for r in plan.suppressed
            ),
            *(
                js.publish(subjects.delivery_subject(t.tenant), t.encode(), headers={subjects.MSG_ID: t.msg_id()})
                for t in plan.timers
            ),
        ]
        failures = [o for o in await asyncio.gather(*publishes, return_exceptions=True) if isinstance(o, Exception)]
        if failures:
            log.warning(
                "publishing %d of %d notifications failed (%s); the batch comes back",
                len(failures),
                len(publishes),
                failures[0],
            )
            for msg in taken:
                await msg.nak(delay=1.0)
            return
        await self.fanout.save(plan, lambda jobs: _publish_jobs(js, jobs))
        for result in plan.suppressed:
            SUPPRESSED.labels("cooldown" if "cooldown" in (result.reason or "") else "storm").inc()
            log.info(
                "notification suppressed: %s",
                result.reason,
                extra={"tenant": result.tenant, "event_id": result.event_id, "channel": result.channel},
            )
        for msg in taken:
            await msg.ack()

    # -- ACK notices -> acknowledge jobs -------------------------------------------------------------------------
    async def _acks(self, js: JetStreamContext, sub: JetStreamContext.PullSubscription) -> None:
        self.consuming.add("acks")
        while not self.stopping.is_set():
            for msg in await _fetch(sub, 50):
                try:
                    assert self.pipeline is not None
                    jobs = await ack_jobs(self.pipeline.directory, msg.data)
                    await self._ack_groups(msg.data)
                    for job in jobs:
                        await js.publish(
                            subjects.delivery_subject(job.tenant), job.encode(), headers={subjects.MSG_ID: job.msg_id()}
                        )
                    await msg.ack()
                except Exception as exc:  # a malformed notice is dropped; NATS trouble brings it back
                    if isinstance(exc, (KeyError, ValueError, TypeError)):
                        log.warning("dropping a malformed ACK notice: %s", type(exc).__name__)
                        await msg.term()
                    else:
                        log.warning("ACK notice not handled yet (%s); it comes back", exc)
                        await msg.nak(delay=1.0)
        self.consuming.discard("acks")

    async def _ack_groups(self, data: bytes) -> None:
        """An acknowledged alert leaves its group's repeats."""
        assert self.groups is not None
        event = codec.loads(data).get("event") or {}
        await self.groups.acknowledge(
            str(event["tenant"]), str(event["rule_id"]), str(event.get("fingerprint")), event.get("payload") or {}
        )

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
            job = codec.delivery_job_from(msg.data)
        except Exception as exc:
            log.warning("dropping a malformed delivery job: %s", type(exc).__name__)
            await msg.term()
            return
        if isinstance(job, DigestJob):
            await self._digest(js, pipeline, job, msg)
            return
        if isinstance(job, GroupJob):
            await self._group(js, pipeline, job, msg)
            return
        attempt = msg.metadata.num_delivered
        context = {"tenant": job.tenant, "event_id": job.transition.event_id, "transition_id": job.msg_id()}
        try:
            if await self._was_sent(job):
                log.info("delivery %s was sent before; not sending it again", job.msg_id(), extra=context)
                await msg.ack_sync()
                return
            async with _working(msg):
                attempted = await pipeline.attempt(job, attempt, datetime.now(UTC))
            result = attempted.result
            if result.status == "sent":
                await self._mark_sent(job)
            await _publish(js, subjects.results_subject(job.tenant), codec.dumps(result.as_dict()), result.msg_id())
            await self._after_failure(js, job, msg.data, result)
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

    async def _was_sent(self, job: DeliveryJob) -> bool:
        assert self.sent is not None
        try:
            return bool((await self.sent.get(_sent_key(job))).value)
        except KeyNotFoundError:
            return False

    async def _mark_sent(self, job: DeliveryJob) -> None:
        assert self.sent is not None
        await self.sent.put(_sent_key(job), codec.dumps({"at": format_time(datetime.now(UTC))}))

    async def _after_failure(self, js: JetStreamContext, job: DeliveryJob, data: bytes, result: DeliveryResult) -> None:
        """A failed attempt becomes a `cep.notification.failed` event; a final failure also a dead letter."""
        event = failure_event(job, result)
        if event is not None:
            headers = {subjects.MSG_ID: failure_msg_id(result), subjects.RECEIVED_AT: format_time(result.at)}
            await js.publish(subjects.internal_subject(job.tenant), codec.dumps(event), headers=headers)
        if result.status == "failed":
            await _dead_letter(js, job.tenant, job.msg_id(), data, result.as_dict())

    async def _digest(self, js: JetStreamContext, pipeline: Pipeline, job: DigestJob, msg: Msg) -> None:
        """A digest timer (wait until its window ends, then publish the digests) or one digest to send."""
        assert self.digests is not None
        context = {"tenant": job.tenant, "rule_id": job.rule_id}
        if job.kind == "digest-timer":
            wait = self.digests.wait(job)
            if wait > 0:
                await msg.nak(delay=wait)
                return
            try:
                for digest in await self.digests.jobs(job):
                    await _publish(js, subjects.delivery_subject(job.tenant), digest.encode(), digest.msg_id())
                await self.digests.mark_sent(job)
            except Exception as exc:
                log.warning("storm digest of rule %s not published yet (%s)", job.rule_id, exc, extra=context)
                await msg.nak(delay=1.0)
                return
            await msg.ack_sync()
            return
        attempt = msg.metadata.num_delivered
        try:
            async with _working(msg):
                done = await pipeline.attempt_digest(job, attempt)
            if done is not None and done[1].status == "failed":
                last = {"status": "failed", "attempt": attempt, "error": done[0].error}
                await _dead_letter(js, job.tenant, job.msg_id(), msg.data, last)
        except Exception:
            log.exception("digest attempt %d could not complete; it comes back", attempt, extra=context)
            await msg.nak(delay=pipeline.policy.backoff(attempt, 0.5))
            return
        if done is None:
            await msg.ack_sync()
            return
        outcome, decision = done
        DIGESTS.labels(decision.status).inc()
        level = logging.INFO if outcome.ok else logging.WARNING
        log.log(
            level,
            "storm digest %s (attempt %d): %s%s",
            decision.status,
            attempt,
            decision.reason,
            f" [{outcome.error}]" if outcome.error else "",
            extra=context,
        )
        if decision.final:
            await msg.ack_sync()
        else:
            await msg.nak(delay=decision.delay)

    async def _group(self, js: JetStreamContext, pipeline: Pipeline, job: GroupJob, msg: Msg) -> None:
        """A group's flush or repeat timer (publish the batch when due), or one batch to send to one channel."""
        assert self.groups is not None
        context = {"tenant": job.tenant, "rule_id": job.rule_id, "group": job.labels}
        if job.kind != "group":
            wait = self.groups.wait(job)
            if wait > 0:
                await msg.nak(delay=wait)
                return
            try:
                await self.groups.fire(job, lambda jobs: _publish_jobs(js, jobs))
            except Exception as exc:
                log.warning("group batch of rule %s not published yet (%s)", job.rule_id, exc, extra=context)
                await msg.nak(delay=1.0)
                return
            await msg.ack_sync()
            return
        attempt = msg.metadata.num_delivered
        try:
            async with _working(msg):
                attempted = await pipeline.attempt_group(job, attempt, datetime.now(UTC))
            for result in attempted.results:
                await _publish(js, subjects.results_subject(job.tenant), codec.dumps(result.as_dict()), result.msg_id())
            if attempted.decision.status == "failed":
                last = {"status": "failed", "attempt": attempt, "error": attempted.outcome.error}
                await _dead_letter(js, job.tenant, job.msg_id(), msg.data, last)
        except Exception:
            log.exception("group attempt %d could not complete; it comes back", attempt, extra=context)
            await msg.nak(delay=pipeline.policy.backoff(attempt, 0.5))
            return
        decision = attempted.decision
        DELIVERIES.labels(attempted.channel_type, decision.status).inc()
        log.log(
            logging.INFO if attempted.outcome.ok else logging.WARNING,
            "group notification of %d alert(s) %s (attempt %d): %s%s",
            len(job.members or []),
            decision.status,
            attempt,
            decision.reason,
            f" [{attempted.outcome.error}]" if attempted.outcome.error else "",
            extra=context,
        )
        if decision.final:
            await msg.ack_sync()
        else:
            await msg.nak(delay=decision.delay)

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
        return CheckResult(running == ["acks", "alerts", "deliveries"], {"consuming": running})

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
    try:  # create, or bring an existing consumer to this config (an upgrade may change the ack wait)
        await js.add_consumer(stream, config=config)
    except nats.errors.Error as exc:
        log.warning("consumer %s keeps its old config: %s", durable, exc)
    return await js.pull_subscribe(f"{prefix}.*", durable=durable, stream=stream, config=config)


async def _publish_jobs(js: JetStreamContext, jobs: list[GroupJob]) -> None:
    for job in jobs:
        await _publish(js, subjects.delivery_subject(job.tenant), job.encode(), job.msg_id())


@contextlib.asynccontextmanager
async def _working(msg: Msg) -> AsyncIterator[None]:
    """Tell JetStream the attempt is in progress every WORKING_BEAT seconds while the block runs."""

    async def beat() -> None:
        while True:
            await asyncio.sleep(WORKING_BEAT)
            with contextlib.suppress(Exception):
                await msg.in_progress()

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()


def _sent_key(job: DeliveryJob) -> str:
    return job.msg_id().replace(":", ".")  # KV keys take dots, not colons


async def _publish(js: JetStreamContext, subject: str, data: bytes, msg_id: str) -> None:
    await js.publish(subject, data, headers={subjects.MSG_ID: msg_id})


async def _dead_letter(js: JetStreamContext, tenant: str, job_id: str, job: bytes, last: Mapping[str, Any]) -> None:
    """A job that failed for good, with its last outcome, to CEP_DEAD (once per job)."""
    await _publish(js, subjects.dead_subject(tenant), codec.dead_letter(job, last), f"dead:{job_id}")


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
