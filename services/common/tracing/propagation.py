"""Trace context in NATS headers: W3C `traceparent`/`tracestate` written to and read from a message's headers.

Only the W3C trace context crosses a message (never baggage, whatever OTEL_PROPAGATORS says), so nothing a client
put in a request travels further than its trace id. Both functions do nothing while tracing is off.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanContext, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from services.common.tracing.setup import enabled

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
_W3C = TraceContextTextMapPropagator()
_TRACEPARENT_LENGTH = 55  # version 00: "00-<32 hex>-<16 hex>-<2 hex>"


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
    """The remote span a `traceparent` names (for a link), or None when it is missing or malformed.

    Parsed here rather than by the propagator (a regular expression and a Context per call): a batch span links
    up to a hundred of them.
    """
    if not traceparent or len(traceparent) < _TRACEPARENT_LENGTH:
        return None
    parts = traceparent.split("-")
    if len(parts) < 4 or (parts[0] == "00" and len(parts) != 4):
        return None
    version, trace_id, span_id, flags = parts[:4]
    if version == "ff" or len(version) != 2 or len(trace_id) != 32 or len(span_id) != 16 or len(flags) != 2:
        return None
    try:
        ids = int(trace_id, 16), int(span_id, 16), int(flags, 16), int(version, 16)
    except ValueError:
        return None
    if not (ids[0] and ids[1]):
        return None
    return SpanContext(ids[0], ids[1], is_remote=True, trace_flags=TraceFlags(ids[2] & TraceFlags.SAMPLED))
