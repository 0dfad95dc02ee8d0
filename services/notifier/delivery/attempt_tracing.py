"""The span of one delivery attempt: a child of its alert's intake span (the context its job message carries)."""

from __future__ import annotations

from nats.aio.msg import Msg
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from services.common.messages.delivery import DeliveryJob, DeliveryResult
from services.common.tracing.propagation import extract
from services.common.tracing.setup import enabled
from services.common.tracing.spans import child_span


def attempt_span(msg: Msg, job: DeliveryJob, attempt: int) -> Span | None:
    """Start the span of attempt number `attempt` of `job`; None while tracing is off."""
    if not enabled():
        return None
    attributes: dict[str, str | int] = {
        "cep.tenant": job.tenant,
        "cep.rule_id": job.transition.rule_id,
        "cep.event_id": job.transition.event_id,
        "cep.transition_id": job.transition.transition_id,
        "cep.channel": job.action.channel or "",
        "cep.attempt": attempt,
    }
    return child_span("cep.notify deliver", extract(msg.headers), attributes, SpanKind.CONSUMER)


def end_attempt_span(span: Span | None, result: DeliveryResult) -> None:
    """End the attempt's span with what became of it (the channel type and status; an error unless sent)."""
    if span is None:
        return
    span.set_attribute("cep.channel_type", result.type)
    span.set_attribute("cep.status", result.status)
    if result.status == "failed":
        span.set_status(Status(StatusCode.ERROR, result.error_kind or "failed"))
    span.end()
