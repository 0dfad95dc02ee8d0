"""Alerts -> delivery jobs: the `notifier` consumer on CEP_ALERTS (`cep.alerts.*`) through the stages.

A batch of transitions goes through the stages (stages/multistage.py: muting, cooldown, storm budget, grouping); what
passes becomes one job per action that names a channel, published to `cep.deliver.<tenant>` with `Nats-Msg-Id` =
transition id + action index; what a stage suppresses becomes a `suppressed` result, and the stages' timers
(storm digests, group flushes) go to the delivery stream. The alerts are acked after the PubAcks.
"""

from __future__ import annotations

import asyncio
import logging

from nats.aio.msg import Msg
from nats.js.client import JetStreamContext

from services.common.messages import codec
from services.common.messages.alerts import Alert
from services.common.messages.codec import MessageError
from services.common.nats import subjects
from services.common.nats.dead_letters import dead_letter_undecodable
from services.common.nats.durable_consumer import Bind, DurableConsumer
from services.notifier.consumers import notifier_consumer
from services.notifier.delivery.outputs import publish_jobs
from services.notifier.intake.intake_tracing import end_intake_spans, intake_spans, job_headers
from services.notifier.metrics import SUPPRESSED
from services.notifier.stages.multistage import MultiStage

log = logging.getLogger(__name__)


class AlertIntake:
    """Plans each batch of alerts through `stages` and publishes what they decided."""

    def __init__(self, js: JetStreamContext, stages: MultiStage, batch: int) -> None:
        self.js = js
        self.stages = stages
        self.batch = batch

    def consumer(self, bind: Bind) -> DurableConsumer:
        """The `alerts` loop: a failed batch is logged, and its unacked alerts come back."""
        return notifier_consumer("alerts", bind, self.fan_out, self.batch)

    async def fan_out(self, messages: list[Msg]) -> None:
        """Plan a batch through the stages, publish its jobs, results and timers concurrently, save the stages'
        state, then ack every alert; a failed publish naks the whole batch (re-publishing is de-duplicated)."""
        js = self.js
        alerts, taken = [], []
        for msg in messages:
            try:
                alert = Alert.decode(msg.data)
            except MessageError as exc:
                await dead_letter_undecodable(js, subjects.NOTIFIER_CONSUMER, msg, exc.reason)
                await msg.ack()
                continue
            alerts.append((alert.transition, alert.actions))
            taken.append(msg)
        spans = intake_spans((msg, transition) for msg, (transition, _) in zip(taken, alerts, strict=True))
        plan = await self.stages.plan(alerts)
        publishes = [
            *(
                js.publish(
                    subjects.delivery_subject(j.tenant),
                    j.encode(),
                    headers=job_headers(j.msg_id(), j.transition.transition_id, spans),
                )
                for j in plan.jobs
            ),
            *(
                js.publish(
                    subjects.results_subject(r.tenant), codec.dumps(r.as_dict()), headers={subjects.MSG_ID: r.msg_id()}
                )
                for r in (s.result for s in plan.suppressed)
            ),
            *(
                js.publish(subjects.delivery_subject(t.tenant), t.encode(), headers={subjects.MSG_ID: t.msg_id()})
                for t in plan.timers
            ),
        ]
        failures = [o for o in await asyncio.gather(*publishes, return_exceptions=True) if isinstance(o, Exception)]
        end_intake_spans(spans, failures[0] if failures else None)
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
        await self.stages.save(plan, lambda jobs: publish_jobs(js, jobs))
        for suppression in plan.suppressed:
            result = suppression.result
            SUPPRESSED.labels(suppression.by).inc()
            log.info(
                "notification suppressed by the %s stage: %s",
                suppression.by,
                result.reason,
                extra={"tenant": result.tenant, "event_id": result.event_id, "channel": result.channel},
            )
        for msg in taken:
            await msg.ack()
