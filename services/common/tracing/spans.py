"""The pipeline's spans: a batch span (a trace of its own, linked to the traces of its inputs) and a child span.

A span that covers many events (a router batch, a shard's fetch, a recorder batch) may mix tenants, so it never
joins an event's trace: it starts a new trace and links each input's context. A span about one event or one
transition is a child of that input's context and carries only that tenant's attributes. Every function returns
None, and does nothing, while tracing is off.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from typing import Protocol, TypeVar

from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode, use_span
from opentelemetry.util.types import AttributeValue

from services.common.tracing.propagation import span_context_of, traceparent_of
from services.common.tracing.setup import tracer

MAX_LINKS = 128  # the SDK's default link limit: more would be dropped anyway

Attributes = Mapping[str, AttributeValue]
M = TypeVar("M", bound="HasHeaders")


def batch_span(
    name: str, traceparents: Iterable[str | None], attributes: Attributes, kind: SpanKind = SpanKind.CONSUMER
) -> Span | None:
    """Start a root span for a batch, linked to the distinct traces of its inputs (their `traceparent`s)."""
    spans = tracer()
    if spans is None:
        return None
    seen: dict[str, Link] = {}
    for traceparent in traceparents:
        if traceparent and traceparent not in seen and len(seen) < MAX_LINKS:
            remote = span_context_of(traceparent)
            if remote is not None:
                seen[traceparent] = Link(remote)
    return spans.start_span(name, context=Context(), kind=kind, attributes=attributes, links=list(seen.values()))


def child_span(
    name: str, parent: Context | None, attributes: Attributes, kind: SpanKind = SpanKind.INTERNAL
) -> Span | None:
    """Start a span under `parent` (a message's extracted context); a root span when there is none."""
    spans = tracer()
    if spans is None:
        return None
    return spans.start_span(name, context=parent or Context(), kind=kind, attributes=attributes)


def end_span(span: Span | None, error: BaseException | None = None) -> None:
    """End a span (None: tracing is off), marked as an error when `error` is given."""
    if span is None:
        return
    if error is not None:
        span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
    span.end()


@contextlib.contextmanager
def current_span(
    name: str, attributes: Attributes, links: Iterable[str | None] = (), kind: SpanKind = SpanKind.SERVER
) -> Iterator[Span | None]:
    """A root span made current for the block (what `inject` then writes), linked to `links`; None when off."""
    span = batch_span(name, links, attributes, kind)
    if span is None:
        yield None
        return
    with use_span(span, end_on_exit=True, record_exception=True, set_status_on_exception=True):
        yield span


class HasHeaders(Protocol):
    headers: dict[str, str] | None


Handler = Callable[[list[M]], Awaitable[None]]


def traced_batches(name: str, handler: Handler[M], attributes: Attributes | None = None) -> Handler[M]:
    """`handler` of message batches inside a batch span linked to each message's trace; `handler` itself when off.

    Decided once, when a consumer is built (after `setup_tracing`): a process without tracing pays nothing.
    """
    if tracer() is None:
        return handler

    async def traced(messages: list[M]) -> None:
        parents = (traceparent_of(message.headers) for message in messages)
        span = batch_span(name, parents, {**(attributes or {}), "cep.messages": len(messages)})
        try:
            await handler(messages)
        except BaseException as exc:
            end_span(span, exc)
            raise
        end_span(span)

    return traced
