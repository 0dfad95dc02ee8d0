"""Publishing alert transitions to CEP_ALERTS: the message id is the transition id, and every PubAck is awaited."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import nats.errors
from nats.js.client import JetStreamContext
from opentelemetry.trace import Span, SpanKind, set_span_in_context

from services.common.domain.lifecycle.transitions import Transition
from services.common.messages.alerts import alert as alert_message
from services.common.nats import subjects
from services.common.tracing.propagation import context_of, inject
from services.common.tracing.spans import child_span, end_span
from services.evaluator.processor import Actions

log = logging.getLogger(__name__)

PUBLISH_SLICE = 256  # alert publishes in flight at once
RETRY_SECONDS = 0.5


async def publish_alerts(
    js: JetStreamContext,
    alerts: list[tuple[Transition, Actions]],
    on_drop: Callable[[Transition, Exception], None],
    shard: int | None = None,
    traces: dict[str, str] | None = None,
) -> None:
    """Publish every transition and await its PubAck, retrying until all are stored.

    One too large for the server can never be stored: `on_drop` reports it and it is not retried. `traces` (while
    tracing: the trace context of each event, by event id) makes each publish a span in its causing event's trace.
    """
    pending = alerts
    while pending:
        failed: list[tuple[Transition, Actions]] = []
        for start in range(0, len(pending), PUBLISH_SLICE):
            part = pending[start : start + PUBLISH_SLICE]
            spans = [None] * len(part) if traces is None else [_publish_span(t, traces) for t, _ in part]
            results = await asyncio.gather(
                *(
                    js.publish(
                        subjects.alerts_subject(t.tenant),
                        alert_message(t, actions),
                        headers=_headers(t, span),
                    )
                    for (t, actions), span in zip(part, spans, strict=True)
                ),
                return_exceptions=True,
            )
            for span, result in zip(spans, results, strict=True):
                end_span(span, result if isinstance(result, Exception) else None)
            for alert, result in zip(part, results, strict=True):
                if isinstance(result, nats.errors.MaxPayloadError):
                    on_drop(alert[0], result)
                elif isinstance(result, Exception):
                    failed.append(alert)
        if failed:
            log.warning("%d alert publishes failed; retrying", len(failed), extra={"shard": shard})
            await asyncio.sleep(RETRY_SECONDS)
        pending = failed


def _publish_span(transition: Transition, traces: dict[str, str]) -> Span | None:
    """A transition's publish as a child of the event that caused it (a root span for a timer's transition)."""
    parent = context_of(traces.get(transition.source_event_id or ""))
    attributes = {
        "cep.tenant": transition.tenant,
        "cep.rule_id": transition.rule_id,
        "cep.event_id": transition.event_id,
        "cep.transition_id": transition.transition_id,
        "cep.transition": transition.kind,
    }
    return child_span("cep.transition publish", parent, attributes, SpanKind.PRODUCER)


def _headers(transition: Transition, span: Span | None) -> dict[str, str]:
    headers = {subjects.MSG_ID: transition.transition_id}
    if span is not None:
        inject(headers, set_span_in_context(span))
    return headers
