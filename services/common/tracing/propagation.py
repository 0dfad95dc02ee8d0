"""Trace context in NATS headers: W3C `traceparent`/`tracestate` written to and read from a message's headers.

Only the W3C trace context crosses a message (never baggage, whatever OTEL_PROPAGATORS says), so nothing a client
put in a request travels further than its trace id. Both functions do nothing while tracing is off.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanContext
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from services.common.tracing.setup import enabled

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
_W3C = TraceContextTextMapPropagator()


def inject(headers: MutableMapping[str, str], context: Context | None = None) -> MutableMapping[str, str]:
    """Write the trace context of `context` (default: the current span) into `headers`; returns `headers`."""
    if enabled():
        _W3C.inject(headers, context)
    return headers


def extract(headers: Mapping[str, str] | None) -> Context | None:
    """The context a message's headers carry, to parent a span on; None when tracing is off or there is none."""
    if not enabled() or not headers or TRACEPARENT not in headers:
        return None
    context = _W3C.extract(headers)
    return context if trace.get_current_span(context).get_span_context().is_valid else None


def traceparent_of(headers: Mapping[str, str] | None) -> str | None:
    """The `traceparent` header alone (kept per event when events are batched); None when tracing is off."""
    if not enabled() or not headers:
        return None
    return headers.get(TRACEPARENT)


def context_of(traceparent: str | None) -> Context | None:
    """The context of a bare `traceparent` (as kept in a batch), or None when it is missing or malformed."""
    if not traceparent:
        return None
    return extract({TRACEPARENT: traceparent})


def span_context_of(traceparent: str | None) -> SpanContext | None:
    """The remote span a `traceparent` names (for a link), or None when it is missing or malformed."""
    context = context_of(traceparent)
    return None if context is None else trace.get_current_span(context).get_span_context()
