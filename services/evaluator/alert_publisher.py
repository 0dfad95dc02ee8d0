"""Publishing alert transitions to CEP_ALERTS: the message id is the transition id, and every PubAck is awaited."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import nats.errors
from nats.js.client import JetStreamContext

from services.common.domain.lifecycle.transitions import Transition
from services.common.messages.alerts import alert as alert_message
from services.common.nats import subjects
from services.evaluator.processor import Actions

log = logging.getLogger(__name__)

PUBLISH_SLICE = 256  # alert publishes in flight at once
RETRY_SECONDS = 0.5


async def publish_alerts(
    js: JetStreamContext,
    alerts: list[tuple[Transition, Actions]],
    on_drop: Callable[[Transition, Exception], None],
    shard: int | None = None,
) -> None:
    """Publish every transition and await its PubAck, retrying until all are stored.

    One too large for the server can never be stored: `on_drop` reports it and it is not retried.
    """
    pending = alerts
    while pending:
        failed: list[tuple[Transition, Actions]] = []
        for start in range(0, len(pending), PUBLISH_SLICE):
            part = pending[start : start + PUBLISH_SLICE]
            results = await asyncio.gather(
                *(
                    js.publish(
                        subjects.alerts_subject(t.tenant),
                        alert_message(t, actions),
                        headers={subjects.MSG_ID: t.transition_id},
                    )
                    for t, actions in part
                ),
                return_exceptions=True,
            )
            for alert, result in zip(part, results, strict=True):
                if isinstance(result, nats.errors.MaxPayloadError):
                    on_drop(alert[0], result)
                elif isinstance(result, Exception):
                    failed.append(alert)
        if failed:
            log.warning("%d alert publishes failed; retrying", len(failed), extra={"shard": shard})
            await asyncio.sleep(RETRY_SECONDS)
        pending = failed
