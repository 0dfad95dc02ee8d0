"""The notifier's spans on the way in: one per alert, a child of its transition's publish, parent of its jobs.

A delivery job carries the context of its alert's intake span in its headers, so the attempt that sends it
(delivery/deliverer.py) is one more span in the trace of the event that caused the transition.
"""

from __future__ import annotations

from collections.abc import Iterable

from nats.aio.msg import Msg
from opentelemetry.trace import Span, SpanKind, set_span_in_context

from services.common.domain.lifecycle.transitions import Transition
from services.common.nats import subjects
from services.common.tracing.propagation import extract, inject
from services.common.tracing.setup import enabled
from services.common.tracing.spans import child_span, end_span


def intake_spans(alerts: Iterable[tuple[Msg, Transition]]) -> dict[str, Span] | None:
    """A span per alert, by transition id, under the context its message carries; None while tracing is off."""
    if not enabled():
        return None
    spans: dict[str, Span] = {}
    for msg, transition in alerts:
        attributes = {
            "cep.tenant": transition.tenant,
            "cep.rule_id": transition.rule_id,
            "cep.event_id": transition.event_id,
            "cep.transition_id": transition.transition_id,
        }
        span = child_span("cep.notify intake", extract(msg.headers), attributes, SpanKind.CONSUMER)
        if span is not None:
            spans[transition.transition_id] = span
    return spans


def job_headers(msg_id: str, transition_id: str, spans: dict[str, Span] | None) -> dict[str, str]:
    """A job's headers: its message id, and while tracing the context of its alert's intake span."""
    headers = {subjects.MSG_ID: msg_id}
    span = None if spans is None else spans.get(transition_id)
    if span is not None:
        inject(headers, set_span_in_context(span))
    return headers


def end_intake_spans(spans: dict[str, Span] | None, error: BaseException | None = None) -> None:
    for span in (spans or {}).values():
        end_span(span, error)
