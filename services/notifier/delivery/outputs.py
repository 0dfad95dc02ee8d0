"""What the notifier publishes from its delivery loop: jobs, results and dead letters, each with its `Nats-Msg-Id`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from nats.js.client import JetStreamContext

from services.common.messages import codec, delivery
from services.common.messages.delivery import DeliveryResult, GroupJob
from services.common.nats import subjects

Publish = Callable[[list[GroupJob]], Awaitable[None]]  # publishes group timers or batches (publish_jobs, bound to js)


async def publish(js: JetStreamContext, subject: str, data: bytes, msg_id: str) -> None:
    await js.publish(subject, data, headers={subjects.MSG_ID: msg_id})


async def publish_result(js: JetStreamContext, tenant: str, result: DeliveryResult) -> None:
    """A delivery result to `cep.results.<tenant>` (for the gateway's recorder)."""
    await publish(js, subjects.results_subject(tenant), codec.dumps(result.as_dict()), result.msg_id())


async def publish_jobs(js: JetStreamContext, jobs: list[GroupJob]) -> None:
    for job in jobs:
        await publish(js, subjects.delivery_subject(job.tenant), job.encode(), job.msg_id())


async def dead_letter(js: JetStreamContext, tenant: str, job_id: str, job: bytes, last: Mapping[str, Any]) -> None:
    """A job that failed for good, with its last outcome, to CEP_DEAD (once per job)."""
    await publish(js, subjects.dead_subject(tenant), delivery.dead_letter(job, last), f"dead:{job_id}")
