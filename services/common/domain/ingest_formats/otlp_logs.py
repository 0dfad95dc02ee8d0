"""OTLP logs (ExportLogsServiceRequest) into flat events, one per log record.

The event type is the record's `event.name` attribute (OpenTelemetry's semantic convention for events), else the
record's own `event_name` field, else `log`. OTLP's severity number is mapped onto the platform's severities
(`severity`); the record's number and text are kept as `severity_number` and `severity_text`. The body is
`message`, the time `timestamp` (the record's time, else its observed time), the ids hex `trace_id` and `span_id`;
the resource's attributes, overridden by the record's, are top-level fields. A record whose event type starts
with `cep.` (reserved for the platform) is skipped and counted.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsPartialSuccess,
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from services.common.domain.events.intake import RESERVED_PREFIX
from services.common.domain.events.model import format_time
from services.common.domain.ingest_formats.flat_events import FlatBatch, fields_of, time_from_nanos
from services.common.domain.ingest_formats.otlp_wire import attribute_pairs, plain_value

EVENT_TYPE_ATTRIBUTE = "event.name"
DEFAULT_EVENT_TYPE = "log"
ATTRIBUTE_PREFIX = "attr_"
LOG_FIELDS = frozenset(
    {"event_type", "message", "severity", "severity_number", "severity_text", "timestamp", "trace_id", "span_id"}
)
# OTLP severity numbers 1-24 in ranges of four (TRACE, DEBUG, INFO, WARN, ERROR, FATAL) -> the platform's words.
_BY_RANGE = ("info", "info", "low", "medium", "high", "critical")
_BY_TEXT = {
    "trace": "info",
    "debug": "info",
    "info": "low",
    "warn": "medium",
    "warning": "medium",
    "error": "high",
    "fatal": "critical",
    "critical": "critical",
}


def logs_events(request: ExportLogsServiceRequest) -> FlatBatch:
    """The flat events of every log record in the request, in body order, and the records skipped by reason."""
    batch = FlatBatch()
    for resource_logs in request.resource_logs:
        resource = attribute_pairs(resource_logs.resource.attributes)
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                _record_event(record, resource, batch)
    return batch


def logs_response(batch: FlatBatch) -> ExportLogsServiceResponse:
    """The export answer: `partial_success` with the skipped records and why, when any were skipped."""
    if not batch.skipped:
        return ExportLogsServiceResponse()
    partial = ExportLogsPartialSuccess(rejected_log_records=batch.skipped_total, error_message=batch.describe_skips())
    return ExportLogsServiceResponse(partial_success=partial)


def severity_of(number: int, text: str) -> str | None:
    """The platform severity of an OTLP severity number (1-24), else of its text (`ERROR`), else None."""
    if 1 <= number <= 24:
        return _BY_RANGE[(number - 1) // 4]
    return _BY_TEXT.get(text.strip().lower())


def _record_event(record: LogRecord, resource: list[tuple[str, Any]], batch: FlatBatch) -> None:
    attributes = attribute_pairs(record.attributes)
    event_type = _event_type(record, attributes)
    if event_type.startswith(RESERVED_PREFIX):
        batch.skipped["reserved_event_type"] += 1
        return
    try:
        at = time_from_nanos(record.time_unix_nano) or time_from_nanos(record.observed_time_unix_nano)
    except ValueError:
        batch.skipped["timestamp"] += 1
        return
    event: dict[str, Any] = {"event_type": event_type}
    if record.HasField("body"):
        event["message"] = plain_value(record.body)
    severity = severity_of(record.severity_number, record.severity_text)
    if severity is not None:
        event["severity"] = severity
    if record.severity_number:
        event["severity_number"] = record.severity_number
    if record.severity_text:
        event["severity_text"] = record.severity_text
    if at is not None:
        event["timestamp"] = format_time(at)
    if record.trace_id:
        event["trace_id"] = record.trace_id.hex()
    if record.span_id:
        event["span_id"] = record.span_id.hex()
    event.update(fields_of([*resource, *attributes], LOG_FIELDS, ATTRIBUTE_PREFIX))
    batch.events.append(event)


def _event_type(record: LogRecord, attributes: list[tuple[str, Any]]) -> str:
    named = next((value for key, value in reversed(attributes) if key == EVENT_TYPE_ATTRIBUTE), None)
    if isinstance(named, str) and named.strip():
        return named.strip()
    if record.event_name.strip():
        return record.event_name.strip()
    return DEFAULT_EVENT_TYPE
