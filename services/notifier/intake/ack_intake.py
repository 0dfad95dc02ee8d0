"""ACK notices -> acknowledge jobs: the `notifier-acks` consumer on CEP_ALERTS (`cep.acks.*`).

An acknowledged alert becomes an `acknowledge` job for each incident channel of its rule, and leaves its
group's repeats: its rule's group and its notification policy route groups (by the event's labels).
"""

from __future__ import annotations

import logging

from nats.aio.msg import Msg
from nats.js.client import JetStreamContext

from services.common.messages.alerts import AckNotice
from services.common.messages.codec import MessageError
from services.common.nats import subjects
from services.common.nats.dead_letters import dead_letter_undecodable
from services.common.nats.durable_consumer import Bind, DurableConsumer
from services.notifier.consumers import notifier_consumer
from services.notifier.delivery.directory import Directory
from services.notifier.intake.acks import ack_jobs
from services.notifier.timed_jobs.groups import Groups

log = logging.getLogger(__name__)

BATCH = 50


class AckIntake:
    def __init__(self, js: JetStreamContext, directory: Directory, groups: Groups) -> None:
        self.js = js
        self.directory = directory
        self.groups = groups

    def consumer(self, bind: Bind) -> DurableConsumer:
        """The `acks` loop, 50 notices a batch."""
        return notifier_consumer("acks", bind, self.on_notices, BATCH)

    async def on_notices(self, msgs: list[Msg]) -> None:
        """Turn each notice into its jobs and ack it; a malformed notice is dropped, NATS trouble brings it back."""
        for msg in msgs:
            try:
                notice = AckNotice.decode(msg.data)
            except MessageError as exc:
                await dead_letter_undecodable(self.js, subjects.NOTIFIER_ACKS_CONSUMER, msg, exc.reason)
                await msg.ack()
                continue
            try:
                jobs = await ack_jobs(self.directory, notice)
                await self.leave_groups(notice)
                for job in jobs:
                    await self.js.publish(
                        subjects.delivery_subject(job.tenant), job.encode(), headers={subjects.MSG_ID: job.msg_id()}
                    )
                await msg.ack()
            except Exception as exc:
                if isinstance(exc, (KeyError, ValueError, TypeError)):
                    log.warning("dropping a malformed ACK notice: %s", type(exc).__name__)
                    await msg.term()
                else:
                    log.warning("ACK notice not handled yet (%s); it comes back", exc)
                    await msg.nak(delay=1.0)

    async def leave_groups(self, notice: AckNotice) -> None:
        """An acknowledged alert leaves its group's repeats: its rule's group, and each group the tenant's
        notification policy puts its labels in."""
        event = notice.event
        await self.groups.acknowledge(event.tenant, event.rule_id, str(event.fingerprint), event.payload or {})
        raw = event.field("labels")
        labels = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
        await self.groups.acknowledge_routes(event.tenant, str(event.fingerprint), labels)
