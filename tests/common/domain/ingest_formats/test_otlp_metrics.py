"""OTLP metrics into flat events: point over resource attributes, histograms as `_count`/`_sum`, skips counted."""

from __future__ import annotations

import math

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    Gauge,
    Histogram,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
    Summary,
    SummaryDataPoint,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from services.common.domain.ingest_formats.otlp_metrics import metrics_events, metrics_response

T0 = 1_714_564_800_000_000_000  # 2024-05-01T12:00:00Z in ns
STAMP = "2024-05-01T12:00:00Z"


def kv(key: str, value: object) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, list):
        return KeyValue(
            key=key, value=AnyValue(array_value=ArrayValue(values=[AnyValue(string_value=v) for v in value]))
        )
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def request(*metrics: Metric, resource: dict[str, object] | None = None) -> ExportMetricsServiceRequest:
    attrs = [kv(k, v) for k, v in (resource or {}).items()]
    scope = ScopeMetrics(metrics=list(metrics))
    return ExportMetricsServiceRequest(
        resource_metrics=[ResourceMetrics(resource=Resource(attributes=attrs), scope_metrics=[scope])]
    )


def gauge(name: str, *points: NumberDataPoint) -> Metric:
    return Metric(name=name, gauge=Gauge(data_points=list(points)))


def test_a_gauge_point_is_a_metric_event_and_point_attributes_override_resource_attributes() -> None:
    point = NumberDataPoint(as_double=0.93, time_unix_nano=T0, attributes=[kv("host", "gt-01"), kv("core", 3)])
    batch = metrics_events(request(gauge("cpu.usage", point), resource={"service.name": "api", "host": "resource"}))
    assert batch.events == [
        {"metric": "cpu.usage", "value": 0.93, "timestamp": STAMP, "service_name": "api", "host": "gt-01", "core": 3}
    ]
    assert metrics_response(batch).HasField("partial_success") is False


def test_a_sum_of_ints_keeps_ints_and_a_point_without_time_leaves_it_to_arrival() -> None:
    point = NumberDataPoint(as_int=12_345_678_901, attributes=[kv("tags", ["a", "b"]), kv("value", "x")])
    metric = Metric(name="requests", sum=Sum(data_points=[point], is_monotonic=True))
    assert metrics_events(request(metric)).events == [
        {"metric": "requests", "value": 12_345_678_901, "tags": ["a", "b"], "attr_value": "x"}
    ]


def test_histogram_and_summary_points_become_count_sum_and_quantile_events() -> None:
    histogram = Metric(
        name="latency",
        histogram=Histogram(data_points=[HistogramDataPoint(count=4, sum=2.5, time_unix_nano=T0, bucket_counts=[4])]),
    )
    no_sum = Metric(name="size", histogram=Histogram(data_points=[HistogramDataPoint(count=2, time_unix_nano=T0)]))
    quantile = SummaryDataPoint.ValueAtQuantile(quantile=0.99, value=0.8)
    summary = Metric(
        name="rpc",
        summary=Summary(
            data_points=[SummaryDataPoint(count=9, sum=3.0, time_unix_nano=T0, quantile_values=[quantile])]
        ),
    )
    events = metrics_events(request(histogram, no_sum, summary)).events
    assert [(e["metric"], e["value"], e.get("quantile")) for e in events] == [
        ("latency_count", 4, None),
        ("latency_sum", 2.5, None),
        ("size_count", 2, None),
        ("rpc_count", 9, None),
        ("rpc_sum", 3, None),
        ("rpc", 0.8, 0.99),
    ]


def test_nan_infinite_and_no_recorded_value_points_are_skipped_and_reported_as_partial_success() -> None:
    points = [
        NumberDataPoint(as_double=math.nan, time_unix_nano=T0),
        NumberDataPoint(as_double=math.inf, time_unix_nano=T0),
        NumberDataPoint(as_double=1.0, time_unix_nano=T0, flags=1),
        NumberDataPoint(as_double=2.0, time_unix_nano=T0),
    ]
    batch = metrics_events(request(gauge("g", *points)))
    assert [e["value"] for e in batch.events] == [2]
    assert batch.skipped == {"nan": 1, "inf": 1, "no_recorded_value": 1}
    partial = metrics_response(batch).partial_success
    assert partial.rejected_data_points == 3
    assert partial.error_message == "3 skipped: 1 inf, 1 nan, 1 no_recorded_value"
