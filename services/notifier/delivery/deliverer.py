"""Jobs -> attempts -> results: the `deliverer` consumer on CEP_DELIVERY.

One attempt per delivery of a job (attempt n = the message's delivery count); the result goes to
`cep.results.<tenant>`, then the job is acked (final) or nak'ed with the retry backoff. A job already recorded as
sent (KV `cep-sent`) is not sent again; a job that fails for good goes to CEP_DEAD; every failed attempt is also a
`cep.notification.failed` event in the pipeline (escalation.py). Digest and group timers wait in this stream
(nak with a delay) until they are due (digest_jobs.py, group_jobs.py).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from nats.aio.msg import Msg
from nats.js.client import JetStreamContext
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from services.common.domain.events.model import format_time
from services.common.messages import codec
from services.common.messages.codec import MessageError
from services.common.messages.delivery import DeliveryJob, DeliveryResult, DigestJob, GroupJob, delivery_job_from
from services.common.nats import subjects
from services.common.nats.dead_letters import dead_letter_undecodable
from services.common.nats.durable_consumer import Bind, DurableConsumer
from services.common.tracing.spans import end_span
from services.notifier.consumers import notifier_consumer, settle, working
from services.notifier.delivery.attempt_tracing import attempt_span, end_attempt_span
from services.notifier.delivery.attempts import JobAttempt, Pipeline
from services.notifier.delivery.escalation import failure_event, failure_msg_id
from services.notifier.delivery.outputs import dead_letter, publish_result
from services.notifier.metrics import DELIVERIES
from services.notifier.timed_jobs.digest_jobs import handle_digest
from services.notifier.timed_jobs.digests import Digests
from services.notifier.timed_jobs.group_jobs import handle_group
from services.notifier.timed_jobs.groups import Groups

log = logging.getLogger(__name__)

BATCH = 32  # the most jobs one fetch asks for


class Deliverer:
    """Runs up to `concurrency` attempts at once; `sent` is the KV bucket of jobs already delivered."""

    def __init__(
        self,
        js: JetStreamContext,
        pipeline: Pipeline,
        sent: KeyValue,
        digests: Digests,
        groups: Groups,
        concurrency: int,
    ) -> None:
        self.js = js
        self.pipeline = pipeline
        self.sent = sent
        self.digests = digests
        self.groups = groups
        self.concurrency = concurrency
        self.inflight: set[asyncio.Task[None]] = set()

    def consumer(self, bind: Bind) -> DurableConsumer:
        """The `deliveries` loop: each fetch asks for no more jobs than there is room for (at most 32)."""
        return notifier_consumer("deliveries", bind, self.start_attempts, self.room)

    def room(self) -> int:
        """How many more attempts may start now (at least one: `start_attempts` returns only below the limit)."""
        return min(self.concurrency - len(self.inflight), BATCH)

    async def start_attempts(self, msgs: list[Msg]) -> None:
        """Start one attempt per job in the background; return once fewer than `concurrency` are in flight."""
        for msg in msgs:
            task = asyncio.create_task(self.deliver(msg))
            self.inflight.add(task)
            task.add_done_callback(self.inflight.discard)
        while len(self.inflight) >= self.concurrency:
            await asyncio.wait(self.inflight, return_when=asyncio.FIRST_COMPLETED)

    async def run(self, consumer: DurableConsumer, stop: asyncio.Event) -> None:
        """Run `consumer` until `stop`, then let attempts in flight finish briefly (an unfinished one comes back)."""
        await consumer.run(stop)
        if self.inflight:
            await asyncio.wait(self.inflight, timeout=5)

    async def deliver(self, msg: Msg) -> None:
        js, pipeline = self.js, self.pipeline
        try:
            job = delivery_job_from(msg.data)
        except MessageError as exc:
            await dead_letter_undecodable(js, subjects.DELIVERY_CONSUMER, msg, exc.reason)
            await msg.ack()
            return
        if isinstance(job, DigestJob):
            await handle_digest(js, pipeline, self.digests, job, msg)
            return
        if isinstance(job, GroupJob):
            await handle_group(js, pipeline, self.groups, job, msg)
            return
        attempt = msg.metadata.num_delivered
        context = {"tenant": job.tenant, "event_id": job.transition.event_id, "transition_id": job.msg_id()}
        span = attempt_span(msg, job, attempt)  # None while tracing is off
        try:
            earlier = await self._sent_result(job)
            if earlier:
                log.info("delivery %s was sent before; not sending it again", job.msg_id(), extra=context)
                if isinstance(earlier, DeliveryResult):  # report it again: a kill between mark and report lost it
                    await publish_result(js, job.tenant, earlier)
                await msg.ack_sync()
                end_span(span)
                return
            async with working(msg):
                attempted = await pipeline.attempt_job(job, attempt, datetime.now(UTC))
            result = attempted.result
            if result.status == "sent":
                await self._mark_sent(job, result)
            await publish_result(js, job.tenant, result)
            await self._after_failure(job, msg.data, result)
        except Exception as exc:
            end_span(span, exc)
            log.exception("delivery attempt %d could not complete; it comes back", attempt, extra=context)
            await msg.nak(delay=pipeline.policy.backoff(attempt, 0.5))
            return
        end_attempt_span(span, result)
        DELIVERIES.labels(result.type, result.status).inc()
        _log_attempt(attempted, context)
        await settle(msg, attempted.decision)

    async def _sent_result(self, job: DeliveryJob) -> DeliveryResult | bool:
        """False when the job was never sent; else the result its sending reported (True from a mark without one)."""
        try:
            value = (await self.sent.get(_sent_key(job))).value
        except KeyNotFoundError:
            return False
        if not value:
            return False
        try:
            return DeliveryResult.decode(codec.loads(value)["result"])
        except (ValueError, KeyError, TypeError):  # a mark from before marks kept their result
            return True

    async def _mark_sent(self, job: DeliveryJob, result: DeliveryResult) -> None:
        """Mark the job sent, with its result: the mark and the report are two writes, and a kill may come between."""
        mark = {"at": format_time(datetime.now(UTC)), "result": result.as_dict()}
        await self.sent.put(_sent_key(job), codec.dumps(mark))

    async def _after_failure(self, job: DeliveryJob, data: bytes, result: DeliveryResult) -> None:
        """A failed attempt becomes a `cep.notification.failed` event; a final failure also a dead letter."""
        event = failure_event(job, result)
        if event is not None:
            headers = {subjects.MSG_ID: failure_msg_id(result), subjects.RECEIVED_AT: format_time(result.at)}
            await self.js.publish(subjects.internal_subject(job.tenant), codec.dumps(event), headers=headers)
        if result.status == "failed":
            await dead_letter(self.js, job.tenant, job.msg_id(), data, result.as_dict())


def _sent_key(job: DeliveryJob) -> str:
    return job.msg_id().replace(":", ".")  # KV keys take dots, not colons


def _log_attempt(attempted: JobAttempt, context: dict[str, str]) -> None:
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
