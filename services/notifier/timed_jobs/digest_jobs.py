"""Storm digest jobs in the delivery stream: a timer (wait until its window ends, then publish the digests), or
one digest to send."""

from __future__ import annotations

import logging

from nats.aio.msg import Msg
from nats.js.client import JetStreamContext

from services.common.messages.delivery import DigestJob
from services.common.nats import subjects
from services.notifier.consumers import settle, working
from services.notifier.delivery.attempts import Pipeline
from services.notifier.delivery.outputs import dead_letter, publish
from services.notifier.metrics import DIGESTS
from services.notifier.timed_jobs.digests import Digests
from services.notifier.timed_jobs.timers import fire_when_due

log = logging.getLogger(__name__)


async def handle_digest(js: JetStreamContext, pipeline: Pipeline, digests: Digests, job: DigestJob, msg: Msg) -> None:
    """A digest timer (wait until its window ends, then publish the digests) or one digest to send."""
    context = {"tenant": job.tenant, "rule_id": job.rule_id}
    if job.kind == "digest-timer":

        async def fire() -> None:
            for digest in await digests.jobs(job):
                await publish(js, subjects.delivery_subject(job.tenant), digest.encode(), digest.msg_id())
            await digests.mark_sent(job)

        await fire_when_due(msg, digests.wait(job), fire, f"storm digest of rule {job.rule_id}", context)
        return
    attempt = msg.metadata.num_delivered
    try:
        async with working(msg):
            done = await pipeline.attempt_digest(job, attempt)
        if done is not None and done.decision.status == "failed":
            last = {"status": "failed", "attempt": attempt, "error": done.outcome.error}
            await dead_letter(js, job.tenant, job.msg_id(), msg.data, last)
    except Exception:
        log.exception("digest attempt %d could not complete; it comes back", attempt, extra=context)
        await msg.nak(delay=pipeline.policy.backoff(attempt, 0.5))
        return
    if done is None:
        await msg.ack_sync()
        return
    outcome, decision = done.outcome, done.decision
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
    await settle(msg, decision)
