"""OTLP bodies in both encodings: hex ids and int64 strings in JSON, malformed bodies, gzip under a limit."""

from __future__ import annotations

import gzip

import orjson
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsPartialSuccess,
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)

from services.common.domain.ingest_formats.compression import BodyTooLarge, MalformedBody, decode_content
from services.common.domain.ingest_formats.otlp_logs import logs_events
from services.common.domain.ingest_formats.otlp_metrics import metrics_events
from services.common.domain.ingest_formats.otlp_wire import encode_response, encoding_of, parse_request

LOGS_JSON = {
    "resourceLogs": [
        {
            "scopeLogs": [
                {
                    "logRecords": [
                        {
                            "timeUnixNano": "1714564800000000000",
                            "severityNumber": 13,
                            "body": {"stringValue": "disk almost full"},
                            "traceId": "5b8efff798038103d269b633813fc60c",
                            "spanId": "eee19b7ec3c1b174",
                            "attributes": [{"key": "free", "value": {"intValue": "123"}}],
                            "unknownField": True,
                        }
                    ]
                }
            ]
        }
    ]
}


def test_otlp_json_reads_hex_ids_int64_strings_and_ignores_unknown_fields() -> None:
    parsed = parse_request(orjson.dumps(LOGS_JSON), "json", ExportLogsServiceRequest)
    (event,) = logs_events(parsed).events
    assert event["trace_id"] == "5b8efff798038103d269b633813fc60c" and event["span_id"] == "eee19b7ec3c1b174"
    assert event["free"] == 123 and event["timestamp"] == "2024-05-01T12:00:00Z" and event["severity"] == "medium"


@pytest.mark.parametrize(
    ("body", "encoding", "message"),
    [
        (b"{not json", "json", "not valid JSON"),
        (b"[1]", "json", "is an object"),
        (b'{"resourceMetrics": 5}', "json", "ExportMetricsServiceRequest"),
        (b"\x0a\xff\xff\xff\x0f", "protobuf", "ExportMetricsServiceRequest"),
    ],
)
def test_a_malformed_body_names_the_problem(body: bytes, encoding: str, message: str) -> None:
    with pytest.raises(MalformedBody, match=message):
        parse_request(body, encoding, ExportMetricsServiceRequest)  # type: ignore[arg-type]


def test_a_json_body_nested_too_deeply_is_malformed_not_a_crash() -> None:
    deep = b'{"resourceLogs": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    with pytest.raises(MalformedBody, match="nested more than 100 levels"):
        parse_request(deep, "json", ExportLogsServiceRequest)


def test_a_trace_id_that_is_not_hex_names_its_field() -> None:
    bad = orjson.loads(orjson.dumps(LOGS_JSON))
    bad["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["traceId"] = "zz"
    with pytest.raises(MalformedBody, match=r"resourceLogs\.0\.scopeLogs\.0\.logRecords\.0\.traceId"):
        parse_request(orjson.dumps(bad), "json", ExportLogsServiceRequest)


def test_an_empty_json_body_is_an_empty_request_and_protobuf_round_trips() -> None:
    assert metrics_events(parse_request(b"", "json", ExportMetricsServiceRequest)).events == []
    assert metrics_events(parse_request(b"", "protobuf", ExportMetricsServiceRequest)).events == []


def test_the_answer_has_the_requests_encoding_with_partial_success_in_lower_camel_case() -> None:
    partial = ExportMetricsPartialSuccess(rejected_data_points=2, error_message="2 skipped: 2 nan")
    response = ExportMetricsServiceResponse(partial_success=partial)
    assert orjson.loads(encode_response(response, "json")) == {
        "partialSuccess": {"rejectedDataPoints": "2", "errorMessage": "2 skipped: 2 nan"}
    }
    assert ExportMetricsServiceResponse.FromString(encode_response(response, "protobuf")) == response
    assert encoding_of("application/json; charset=utf-8") == "json"
    assert encoding_of("application/x-protobuf") == "protobuf" and encoding_of("text/plain") is None


def test_gzip_is_inflated_under_the_limit_and_a_gzip_bomb_is_refused() -> None:
    assert decode_content(gzip.compress(b"abc"), "gzip", 10) == b"abc"
    with pytest.raises(BodyTooLarge):
        decode_content(gzip.compress(b"\0" * 10_000), "gzip", 1000)
    with pytest.raises(MalformedBody, match="gzip"):
        decode_content(b"not gzip", "gzip", 1000)
    with pytest.raises(MalformedBody, match="Content-Encoding 'br'"):
        decode_content(b"x", "br", 1000)
