"""OTLP metrics (ExportMetricsServiceRequest) into flat metric events.

A gauge or sum point becomes one event named as the metric. A histogram or exponential histogram point becomes
`<name>_count` and, when the point has a sum, `<name>_sum` (as Prometheus names them); a summary point becomes
`<name>_count`, `<name>_sum` and one `<name>` event per quantile with a `quantile` field. Fields: the resource's
attributes, overridden by the point's. Skipped and counted: NaN and infinite values, points flagged
NO_RECORDED_VALUE, times outside the years 1000-8999.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsPartialSuccess,
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric

from services.common.domain.ingest_formats.flat_events import (
    METRIC_FIELDS,
    FlatBatch,
    fields_of,
    metric_event,
    skip_reason,
    time_from_nanos,
)
from services.common.domain.ingest_formats.otlp_wire import attribute_pairs

ATTRIBUTE_PREFIX = "attr_"  # an attribute named like an event field (`value`, ...) becomes `attr_<name>`
NO_RECORDED_VALUE = 1  # DataPointFlags.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK


def metrics_events(request: ExportMetricsServiceRequest) -> FlatBatch:
    """The flat events of every point in the request, in body order, and the values skipped by reason."""
    batch = FlatBatch()
    for resource_metrics in request.resource_metrics:
        resource = attribute_pairs(resource_metrics.resource.attributes)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                _metric_events(metric, resource, batch)
    return batch


def metrics_response(batch: FlatBatch) -> ExportMetricsServiceResponse:
    """The export answer: `partial_success` with the skipped values and why, when any were skipped."""
    if not batch.skipped:
        return ExportMetricsServiceResponse()
    partial = ExportMetricsPartialSuccess(
        rejected_data_points=batch.skipped_total, error_message=batch.describe_skips()
    )
    return ExportMetricsServiceResponse(partial_success=partial)


def _metric_events(metric: Metric, resource: list[tuple[str, Any]], batch: FlatBatch) -> None:
    kind = metric.WhichOneof("data")
    name = metric.name
    if kind in ("gauge", "sum"):
        for number in getattr(metric, kind).data_points:
            value = float(getattr(number, number.WhichOneof("value") or "as_double"))
            _add(batch, number, resource, [(name, value, {})])
    elif kind in ("histogram", "exponential_histogram"):
        for point in getattr(metric, kind).data_points:
            values: list[tuple[str, float, Mapping[str, Any]]] = [(f"{name}_count", float(point.count), {})]
            if point.HasField("sum"):
                values.append((f"{name}_sum", point.sum, {}))
            _add(batch, point, resource, values)
    elif kind == "summary":
        for summary in metric.summary.data_points:
            parts: list[tuple[str, float, Mapping[str, Any]]] = [(f"{name}_count", float(summary.count), {})]
            parts.append((f"{name}_sum", summary.sum, {}))
            parts += [(name, q.value, {"quantile": q.quantile}) for q in summary.quantile_values]
            _add(batch, summary, resource, parts)


def _add(
    batch: FlatBatch, point: Any, resource: list[tuple[str, Any]], values: list[tuple[str, float, Mapping[str, Any]]]
) -> None:
    """The events of one point (one per value), or the point's values counted as skipped."""
    if point.flags & NO_RECORDED_VALUE:
        batch.skipped["no_recorded_value"] += len(values)
        return
    try:
        at = time_from_nanos(point.time_unix_nano)
    except ValueError:
        batch.skipped["timestamp"] += len(values)
        return
    fields = fields_of([*resource, *attribute_pairs(point.attributes)], METRIC_FIELDS, ATTRIBUTE_PREFIX)
    for name, value, extra in values:
        reason = skip_reason(value)
        if reason is not None:
            batch.skipped[reason] += 1
            continue
        batch.events.append(metric_event(name, value, at, {**fields, **extra}))
