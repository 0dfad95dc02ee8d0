"""Alert group jobs in the delivery stream: a flush or repeat timer (publish the batch when due), or one batch to
send to one channel."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from nats.aio.msg import Msg
from nats.js.client import JetStreamContext

from services.common.messages.delivery import GroupJob
from services.notifier.consumers import settle, working
from services.notifier.delivery.attempts import Pipeline
from services.notifier.delivery.outputs import dead_letter, publish_jobs, publish_result
from services.notifier.metrics import DELIVERIES
from services.notifier.timed_jobs.groups import Groups
from services.notifier.timed_jobs.timers import fire_when_due

log = logging.getLogger(__name__)


async def handle_group(js: JetStreamContext, pipeline: Pipeline, groups: Groups, job: GroupJob, msg: Msg) -> None:
    """A group's flush or repeat timer (publish the batch when due), or one batch to send to one channel."""
    context = {"tenant": job.tenant, "rule_id": job.rule_id, "group": job.labels}
    if job.kind != "group":

        async def fire() -> None:
            await groups.fire(job, lambda jobs: publish_jobs(js, jobs), lambda r: publish_result(js, r.tenant, r))

        await fire_when_due(msg, groups.wait(job), fire, f"group batch of rule {job.rule_id}", context)
        return
    attempt = msg.metadata.num_delivered
    try:
        async with working(msg):
            attempted = await pipeline.attempt_group(job, attempt, datetime.now(UTC))
        for result in attempted.results:
            await publish_result(js, job.tenant, result)
        if attempted.decision.status == "failed":
            last = {"status": "failed", "attempt": attempt, "error": attempted.outcome.error}
            await dead_letter(js, job.tenant, job.msg_id(), msg.data, last)
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
    await settle(msg, decision)
