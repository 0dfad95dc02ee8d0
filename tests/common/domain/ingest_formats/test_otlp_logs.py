"""OTLP log records into events: the event type from `event.name`, severity mapped, ids in hex, skips counted."""

from __future__ import annotations

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from services.common.domain.ingest_formats.otlp_logs import logs_events, logs_response, severity_of

T0 = 1_714_564_800_000_000_000


def text(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def request(*records: LogRecord, resource: list[KeyValue] | None = None) -> ExportLogsServiceRequest:
    scope = ScopeLogs(log_records=list(records))
    return ExportLogsServiceRequest(
        resource_logs=[ResourceLogs(resource=Resource(attributes=resource or []), scope_logs=[scope])]
    )


def test_a_log_record_is_an_event_typed_by_its_event_name_attribute() -> None:
    record = LogRecord(
        time_unix_nano=T0,
        severity_number=17,
        severity_text="ERROR",
        body=AnyValue(string_value="payment failed"),
        attributes=[text("event.name", "payment_failed"), text("order.id", "o-1"), text("host", "record")],
        trace_id=bytes.fromhex("5b8efff798038103d269b633813fc60c"),
        span_id=bytes.fromhex("eee19b7ec3c1b174"),
    )
    batch = logs_events(request(record, resource=[text("service.name", "shop"), text("host", "resource")]))
    assert batch.events == [
        {
            "event_type": "payment_failed",
            "message": "payment failed",
            "severity": "high",
            "severity_number": 17,
            "severity_text": "ERROR",
            "timestamp": "2024-05-01T12:00:00Z",
            "trace_id": "5b8efff798038103d269b633813fc60c",
            "span_id": "eee19b7ec3c1b174",
            "service_name": "shop",
            "host": "record",
            "event_name": "payment_failed",
            "order_id": "o-1",
        }
    ]


def test_without_event_name_the_record_field_then_log_and_the_observed_time_stands_in() -> None:
    named = LogRecord(event_name="login", observed_time_unix_nano=T0)
    plain = LogRecord(body=AnyValue(string_value="hello"), attributes=[text("message", "attr")])
    first, second = logs_events(request(named, plain)).events
    assert first == {"event_type": "login", "timestamp": "2024-05-01T12:00:00Z"}
    assert second == {"event_type": "log", "message": "hello", "attr_message": "attr"}


@pytest.mark.parametrize(
    ("number", "label", "expected"),
    [
        (1, "", "info"),
        (8, "", "info"),
        (9, "", "low"),
        (13, "", "medium"),
        (17, "", "high"),
        (24, "", "critical"),
        (0, "Warning", "medium"),
        (0, "FATAL", "critical"),
        (0, "odd", None),
        (0, "", None),
    ],
)
def test_otlp_severity_maps_onto_the_platforms_severities(number: int, label: str, expected: str | None) -> None:
    assert severity_of(number, label) == expected


def test_a_reserved_event_type_is_skipped_and_reported_as_partial_success() -> None:
    batch = logs_events(request(LogRecord(attributes=[text("event.name", "cep.schedule")]), LogRecord()))
    assert [e["event_type"] for e in batch.events] == ["log"]
    partial = logs_response(batch).partial_success
    assert (partial.rejected_log_records, partial.error_message) == (1, "1 skipped: 1 reserved_event_type")
