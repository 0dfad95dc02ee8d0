"""A shard's spans: one per evaluated batch, linked to its events' traces, and the trace context of each event.

The events of a work message keep the `traceparent` their raw message carried (messages/raw_batches.py), so a
transition's publish can be a child of the event that caused it (`event_traces`), while the batch's own span is a
trace of its own that links them all (services/common/tracing/spans.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.trace import Span

from services.common.tracing.setup import enabled
from services.common.tracing.spans import batch_span
from services.evaluator.work import EventWork, Work


def evaluate_span(shard: int, items: Sequence[Work]) -> Span | None:
    """The span of evaluating a batch of work items, linked to each event's trace; None while tracing is off."""
    if not enabled():
        return None
    traceparents = (item.traceparent for item in items if isinstance(item, EventWork))
    return batch_span("cep.evaluate", traceparents, {"cep.shard": shard, "cep.items": len(items)})


def event_traces(items: Sequence[Work]) -> dict[str, str] | None:
    """The trace context of each traced event of a batch, by event id; None while tracing is off."""
    if not enabled():
        return None
    return {
        item.event.event_id: item.traceparent
        for item in items
        if isinstance(item, EventWork) and item.traceparent is not None
    }
