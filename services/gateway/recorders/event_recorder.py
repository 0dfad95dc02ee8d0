"""The recorder: alert transitions and delivery results from JetStream into SQL, then onto the tenant's feed.

Per batch: one SQL write transaction applies every message not seen before (the transition id, or the
result's message id, is the primary key of a transitions row), then the feed messages go out, the rows are
marked fed, and only then is the batch acked. An alert batch's PubAcks, marks and acks are awaited while the next
batch is fetched and committed (one batch in flight; the feed's order is fixed when its messages are queued). A
crash at any point repeats work that is idempotent; changes committed but never fed are published by the sweep at
start and every few seconds.

A batch that fails is tried one message at a time: one that fails alone while the database answers is poison,
dead-lettered (source `poison`) and acked, so it never holds back the others; the transition rows of a batch go
in with one INSERT (store/events.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from services.common.db.sql_engine import Database
from services.common.messages.alerts import Alert as AlertMessage
from services.common.messages.delivery import DeliveryResult
from services.common.nats import subjects
from services.common.nats.dead_letters import dead_letter_undecodable
from services.common.ops import CheckResult
from services.common.tracing.spans import traced_batches
from services.gateway.live.feed import Feed, Sent
from services.gateway.nats.bus import GatewayBus
from services.gateway.nats.pulling import gateway_consumer
from services.gateway.recorders import annotation_renders
from services.gateway.store import events as store
from services.gateway.store.events import Alert

log = logging.getLogger(__name__)

ACK_WAIT_SECONDS = 30.0
RETRY_DELAY_SECONDS = 1.0
SWEEP_SECONDS = 5.0
# A result whose event never shows up (its alert was lost to retention, say) is dropped after this many tries.
RESULT_MAX_WAITS = 150
RESULT_MAX_DELAY_SECONDS = 30.0


def _config(name: str, subject: str) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=name,
        filter_subject=subject,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=ACK_WAIT_SECONDS,
        max_ack_pending=4096,
    )


async def _ack_all(msgs: list[Msg]) -> None:
    """Ack a batch at once (acks are plain publishes: a lost one is a redelivery, which is idempotent)."""
    for result in await asyncio.gather(*(msg.ack() for msg in msgs), return_exceptions=True):
        if isinstance(result, Exception):
            log.warning("ack failed: %s", result)


def decode_alert(msg: Msg) -> Alert:
    """An alert message, checked against the tenant of its subject; MessageError (a ValueError) when malformed."""
    alert = AlertMessage.decode(msg.data)
    transition, actions = alert.transition, alert.actions
    if subjects.tenant_of(msg.subject) != transition.tenant:
        raise ValueError(f"alert for tenant {transition.tenant!r} on {msg.subject}")
    return Alert(transition, actions)


def decode_result(msg: Msg) -> DeliveryResult:
    """A delivery result message, checked against the tenant of its subject; MessageError when malformed."""
    result = DeliveryResult.decode(msg.data)
    if subjects.tenant_of(msg.subject) != result.tenant:
        raise ValueError(f"result for tenant {result.tenant!r} on {msg.subject}")
    return result


class Recorder:
    """A gateway component: the durable consumers `recorder` (CEP_ALERTS) and `recorder-results` (CEP_RESULTS)."""

    def __init__(
        self, bus: GatewayBus, db: Database, feed: Feed, annotation_seconds: float = annotation_renders.RENDER_SECONDS
    ) -> None:
        self.bus = bus
        self.db = db
        self.feed = feed
        self.annotation_seconds = annotation_seconds
        self.alerts = gateway_consumer(
            bus,
            subjects.ALERTS_STREAM,
            _config(subjects.RECORDER_CONSUMER, f"{subjects.ALERTS_PREFIX}.>"),
            traced_batches("cep.record", self.on_alerts),  # linked to each transition's trace, while tracing
        )
        self.results = gateway_consumer(
            bus,
            subjects.RESULTS_STREAM,
            _config(subjects.RESULTS_CONSUMER, f"{subjects.RESULTS_PREFIX}.>"),
            self.on_results,
        )
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._confirming: asyncio.Task[None] | None = None  # the last batch's feed confirmation and acks

    async def start(self) -> None:
        """Start consuming in the background (the bus may still be connecting)."""
        self._stop.clear()
        self._tasks = [
            asyncio.create_task(self.alerts.run(self._stop), name="recorder-alerts"),
            asyncio.create_task(self.results.run(self._stop), name="recorder-results"),
            asyncio.create_task(self._sweep(), name="recorder-sweep"),
        ]

    async def stop(self) -> None:
        """Stop between batches (never cancelling a SQL write) and wait for the loops to end."""
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self._settle()

    async def check(self) -> CheckResult:
        """Ready when both consumers are bound."""
        bound = {self.alerts.name: self.alerts.bound, self.results.name: self.results.bound}
        return CheckResult(all(bound.values()), {"consumers": bound})

    async def on_alerts(self, msgs: list[Msg]) -> None:
        """Record a batch of alert messages in one transaction, feed them, then ack.

        When the batch fails, its messages are tried one at a time, so one bad message holds back none of the
        others; one that fails alone while the database answers is poison (dead-lettered and acked), one that
        fails while the database is down is redelivered.
        """
        good: list[tuple[Msg, Alert]] = []
        for msg in msgs:
            try:
                good.append((msg, decode_alert(msg)))
            except (KeyError, TypeError, ValueError) as exc:
                await self._settle_bad(subjects.RECORDER_CONSUMER, msg, exc)
        if not good:
            return
        try:
            sent = await self._record_alerts([alert for _, alert in good])
        except Exception as exc:
            await self._settle()
            if len(good) > 1:
                log.warning("recording %d alerts failed (%s); retrying one at a time", len(good), exc)
                for msg, alert in good:
                    await self._record_alone(msg, alert)
                return
            await self._record_failed(good[0][0], exc)
            return
        await self._settle()  # the batch before: at most one in flight while the next is fetched
        recorded = [msg for msg, _ in good]
        self._confirming = asyncio.create_task(self._confirm(sent, recorded), name="recorder-feed")

    async def _record_alerts(self, alerts: list[Alert]) -> Sent:
        """Commit the alerts and queue their feed messages, in commit order (under the feed lock); `_confirm` waits
        for the PubAcks after the lock is let go, so the next batch's commit does not wait for them."""
        annotations = await annotation_renders.rendered(self.db, alerts, self.annotation_seconds)
        async with self.feed.lock:
            async with self.db.write() as session:
                items = await store.record_alerts(session, alerts, datetime.now(UTC), annotations)
            try:
                return await self.feed.send(items)
            except Exception as exc:  # committed: the sweep sends what is unfed
                log.warning("feed publish failed, the sweep will send it again: %s", exc)
                return Sent([], [])

    async def _confirm(self, sent: Sent, msgs: list[Msg]) -> None:
        """The batch's feed messages confirmed and their rows marked fed, then its messages acked. The alerts are
        committed either way: a feed that fails is left to the sweep (`publish_unfed`), as before."""
        try:
            await self.feed.confirm(sent)
        except Exception as exc:
            log.warning("feed publish failed, the sweep will send it again: %s", exc)
        await _ack_all(msgs)

    async def _settle(self) -> None:
        """Wait for the batch in flight to be confirmed and acked."""
        confirming, self._confirming = self._confirming, None
        if confirming is not None:
            await confirming

    async def _record_alone(self, msg: Msg, alert: Alert) -> None:
        try:
            sent = await self._record_alerts([alert])
        except Exception as exc:
            await self._record_failed(msg, exc)
            return
        await self._confirm(sent, [msg])

    async def _record_failed(self, msg: Msg, exc: Exception) -> None:
        """One alert that could not be recorded on its own: poison when the database answers, else redelivered."""
        try:
            await self.db.ping()
        except Exception as down:
            log.error("recording an alert failed, it will be redelivered (database: %s): %s", down, exc)
            await msg.nak(delay=RETRY_DELAY_SECONDS)
            return
        reason = f"not recordable: {type(exc).__name__}: {exc}"
        await dead_letter_undecodable(self.bus.js, subjects.RECORDER_CONSUMER, msg, reason, source="poison")
        await msg.ack()

    async def on_results(self, msgs: list[Msg]) -> None:
        """Fold a batch of delivery results into their events in one transaction, feed them, then ack."""
        good: list[tuple[Msg, DeliveryResult]] = []
        for msg in msgs:
            try:
                good.append((msg, decode_result(msg)))
            except (KeyError, TypeError, ValueError) as exc:
                await self._settle_bad(subjects.RESULTS_CONSUMER, msg, exc)
        try:
            async with self.feed.lock:
                async with self.db.write() as session:
                    items, waiting = await store.record_results(session, [r for _, r in good], datetime.now(UTC))
                await self.feed.publish(items)
        except Exception as exc:
            log.error("recording %d delivery results failed, they will be redelivered: %s", len(good), exc)
            for msg, _ in good:
                await msg.nak(delay=RETRY_DELAY_SECONDS)
            return
        await _ack_all([msg for index, (msg, _) in enumerate(good) if index not in waiting])
        for index, (msg, result) in enumerate(good):
            if index not in waiting:
                continue
            if msg.metadata.num_delivered >= RESULT_MAX_WAITS:
                log.error("dropping the result %s: event %s never recorded", result.msg_id(), result.event_id)
                await msg.term()
            else:  # the alert is not recorded yet: wait for it, longer each time (~1 h in all before giving up)
                await msg.nak(delay=min(float(msg.metadata.num_delivered), RESULT_MAX_DELAY_SECONDS))

    async def _settle_bad(self, consumer: str, msg: Msg, exc: Exception) -> None:
        """A message that does not decode goes to the dead letters with the reason, and is acked."""
        await dead_letter_undecodable(self.bus.js, consumer, msg, str(exc))
        await msg.ack()

    async def _sweep(self) -> None:
        # Feed what was committed but never published (a crash, a NATS outage, an ACK whose publish failed).
        while not self._stop.is_set():
            if self.bus.is_ready:
                try:
                    sent = await self.feed.publish_unfed()
                    if sent:
                        log.info("published %d change(s) missing from the feed", sent)
                except Exception as exc:
                    log.warning("feed sweep failed: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), SWEEP_SECONDS if self.bus.is_ready else 0.2)
