"""Alert transitions back into the pipeline: a durable consumer of CEP_ALERTS that publishes each fired, resolved
and acknowledged event as an internal event (`cep.alert.fired` ...) of its tenant (services/common/domain/events/
alert_events.py says what they hold and how loops are cut).

Transitions (`cep.alerts.<tenant>`) and ACK notices (`cep.acks.<tenant>`) are read in stream order; each becomes
one message on the tenant's internal subject with `Nats-Msg-Id` `alert-event:<transition id>` (`...:ack:<event id>`
for an ACK), and the input is acked only after its PubAck, so a crash repeats publishes that JetStream
de-duplicates. `updated` transitions (absorbed occurrences) are not re-emitted. An alert event past the depth limit
is dropped and counted (`cep_alert_events_total{outcome="too_deep"}`). Replicas share the durable consumer.

A new consumer starts `START_BACK_SECONDS` before its creation: it picks up alerts published while the stack was
starting, and an upgrade does not replay days of history as new events.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Literal

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError
from prometheus_client import Counter

from services.common.domain.events.alert_events import Kind, alert_event, too_deep
from services.common.messages import codec
from services.common.messages.alerts import AckNotice, Alert
from services.common.nats import subjects
from services.common.nats.dead_letters import dead_letter_undecodable
from services.common.nats.durable_consumer import DurableConsumer
from services.common.nats.publishing import Outgoing, publish_all
from services.common.ops import CheckResult

log = logging.getLogger(__name__)

CONSUMER = "alert-events"  # on ALERTS_STREAM, in the ingest service
ACK_WAIT_SECONDS = 30.0
BATCH = 256
FETCH_SECONDS = 1.0
START_BACK_SECONDS = 600.0

ALERT_EVENTS = Counter(
    "cep_alert_events_total",
    "Alert transitions seen by the alert-event publisher, by outcome (published, too_deep, skipped)",
    ["outcome"],
)


def consumer_config(now: datetime) -> ConsumerConfig:
    """The durable consumer of every transition and ACK notice, from a little before its creation."""
    return ConsumerConfig(
        durable_name=CONSUMER,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.BY_START_TIME,
        opt_start_time=now - timedelta(seconds=START_BACK_SECONDS),
        ack_wait=ACK_WAIT_SECONDS,
        max_ack_pending=4096,
        description="cep alert transitions -> internal cep.alert.* events",
    )


Skip = Literal["skipped", "too_deep"]


def outgoing(msg: Msg) -> Outgoing | Skip:
    """The internal event a transition or ACK notice becomes, or why none is emitted (an `updated` transition is
    skipped, one past the depth limit is too deep); MessageError when the message is malformed."""
    if msg.subject.startswith(subjects.ACKS_PREFIX + "."):
        notice = AckNotice.decode(msg.data)
        if notice.type != "acked":
            return "skipped"
        event = notice.event
        body = alert_event(
            "acked",
            event_id=event.event_id,
            rule_id=event.rule_id,
            rule_name=str(event.field("rule_name") or ""),
            severity=str(event.field("severity") or ""),
            priority=str(event.field("priority") or ""),
            group_key=str(event.field("group_key") or ""),
            labels=_labels(event.field("labels")),
            at=event.acked_at or event.fired_at,
            depth=_depth(event.field("depth")),
        )
        return _message(event.tenant, body, f"alert-event:ack:{event.event_id}")
    transition = Alert.decode(msg.data).transition
    if transition.kind not in ("fired", "resolved"):
        return "skipped"
    kind: Kind = "fired" if transition.kind == "fired" else "resolved"
    body = alert_event(
        kind,
        event_id=transition.event_id,
        rule_id=transition.rule_id,
        rule_name=transition.rule_name,
        severity=transition.severity,
        priority=transition.priority,
        group_key=transition.group_key,
        labels=transition.labels,
        at=transition.at,
        depth=transition.depth,
    )
    return _message(transition.tenant, body, f"alert-event:{transition.transition_id}")


def _message(tenant: str, body: dict[str, object], msg_id: str) -> Outgoing | Skip:
    if too_deep(int(str(body["depth"]))):
        return "too_deep"
    return Outgoing(subjects.internal_subject(tenant), codec.dumps(body), msg_id)


def _depth(value: object) -> int:
    """An acknowledged event's depth as its JSON carries it (1 when it does not)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 1


def _labels(value: object) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


class AlertEventPublisher:
    """The ingest service's component: the consumer loop, started and stopped with the service."""

    def __init__(self, nc: Client) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream()
        self.consumer = DurableConsumer(CONSUMER, self._bind, self._fetch, self.on_batch, batch=BATCH)
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self.consumer.run(self._stop), name="alert-events")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def check(self) -> CheckResult:
        return self.consumer.check()

    async def _bind(self) -> JetStreamContext.PullSubscription:
        try:
            await self.js.consumer_info(subjects.ALERTS_STREAM, CONSUMER)
        except NotFoundError:
            await self.js.add_consumer(subjects.ALERTS_STREAM, consumer_config(datetime.now(UTC)))
        return await self.js.pull_subscribe_bind(durable=CONSUMER, stream=subjects.ALERTS_STREAM)

    async def _fetch(self, sub: JetStreamContext.PullSubscription, n: int) -> list[Msg]:
        try:
            return await sub.fetch(n, timeout=FETCH_SECONDS)
        except TimeoutError:
            return []

    async def on_batch(self, msgs: list[Msg]) -> None:
        """Publish the batch's alert events in order, then ack every input (a malformed one is dead-lettered)."""
        out: list[Outgoing] = []
        for msg in msgs:
            try:
                found = outgoing(msg)
            except ValueError as exc:  # MessageError: recorded as an undecodable dead letter, never retried
                await dead_letter_undecodable(self.js, CONSUMER, msg, str(exc))
                continue
            if isinstance(found, str):
                ALERT_EVENTS.labels(found).inc()
            else:
                out.append(found)
        if out:
            await publish_all(self.js, self.nc, out)  # raises unless all were confirmed: the batch comes back
            ALERT_EVENTS.labels("published").inc(len(out))
        for msg in msgs:
            await msg.ack()
