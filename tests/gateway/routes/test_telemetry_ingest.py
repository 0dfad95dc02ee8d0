"""POST /api/v1/write, /v1/metrics and /v1/logs: stored whole before the answer, refused whole with the reason."""

from __future__ import annotations

import gzip
import math
import uuid
from collections.abc import Iterator
from pathlib import Path

import cramjam
import orjson
import pytest
from fastapi.testclient import TestClient
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse

from services.common.pb.prometheus.remote_pb2 import Label, Sample, TimeSeries, WriteRequest
from services.gateway.app import create_app
from tests.common.domain.ingest_formats.test_otlp_logs import request as logs_request
from tests.common.domain.ingest_formats.test_otlp_logs import text
from tests.common.domain.ingest_formats.test_otlp_wire import LOGS_JSON
from tests.gateway.conftest import ADMIN, is_problem, mint, settings_for
from tests.gateway.routes.test_ingest import _ready, stored
from tests.support.nats import NatsServer

T0 = 1_714_564_800_000
REMOTE_WRITE = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf"}


@pytest.fixture(scope="module")
def ready(tmp_path_factory: pytest.TempPathFactory, nats_server: NatsServer) -> Iterator[TestClient]:
    """One gateway for the module (tests keep apart by tenant), connected to the session's NATS."""
    with TestClient(create_app(settings_for(tmp_path_factory.mktemp("telemetry")))) as client:
        yield _ready(client)


def _tenant() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


def write_body(*values: float, name: str = "node_load1", **labels: str) -> bytes:
    series = TimeSeries(
        labels=[Label(name="__name__", value=name), *(Label(name=k, value=v) for k, v in labels.items())],
        samples=[Sample(value=v, timestamp=T0 + i) for i, v in enumerate(values)],
    )
    return bytes(cramjam.snappy.compress_raw(WriteRequest(timeseries=[series]).SerializeToString()))


def events_of(url: str, tenant: str) -> list[dict[str, object]]:
    return [event for _, _, body in stored(url, tenant) for event in body]


def test_remote_write_stores_every_sample_for_the_tokens_tenant_and_answers_204(
    ready: TestClient, nats_server: NatsServer
) -> None:
    tenant, other = _tenant(), _tenant()
    headers = {**mint(ready, tenant, "editor"), **REMOTE_WRITE}
    mint(ready, other, "editor")
    response = ready.post("/api/v1/write", headers=headers, content=write_body(1.5, math.nan, 2.0, job="node"))
    assert response.status_code == 204, response.text
    assert events_of(nats_server.url, tenant) == [
        {"metric": "node_load1", "value": 1.5, "timestamp": "2024-05-01T12:00:00Z", "job": "node"},
        {"metric": "node_load1", "value": 2, "timestamp": "2024-05-01T12:00:00.002000Z", "job": "node"},
    ]
    assert stored(nats_server.url, other) == []
    metrics = ready.get("/metrics").text
    assert 'cep_telemetry_skipped_total{reason="nan",source="prometheus"}' in metrics


def test_a_retried_body_is_stored_once(ready: TestClient, nats_server: NatsServer) -> None:
    tenant = _tenant()
    headers = {**mint(ready, tenant, "editor"), **REMOTE_WRITE}
    body = write_body(1.0, 2.0, 3.0)
    for _ in range(2):
        assert ready.post("/api/v1/write", headers=headers, content=body).status_code == 204
    assert len(events_of(nats_server.url, tenant)) == 3


@pytest.mark.parametrize(
    ("headers", "content", "status", "detail"),
    [
        (REMOTE_WRITE, b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 400, "not snappy"),
        (REMOTE_WRITE, bytes(cramjam.snappy.compress_raw(b"\x0a\xff\xff\xff\x0f")), 400, "not a remote-write"),
        ({**REMOTE_WRITE, "Content-Encoding": "gzip"}, b"x", 415, "Content-Encoding must be snappy"),
        ({**REMOTE_WRITE, "Content-Type": "application/json"}, b"x", 415, "Content-Type must be"),
        (REMOTE_WRITE, bytes(cramjam.snappy.compress_raw(b"\0" * (5 << 20))), 413, "CEP_MAX_DECOMPRESSED_BYTES"),
    ],
)
def test_a_bad_remote_write_is_refused_whole_with_the_reason(
    ready: TestClient, nats_server: NatsServer, headers: dict[str, str], content: bytes, status: int, detail: str
) -> None:
    tenant = _tenant()
    problem = is_problem(
        ready.post("/api/v1/write", headers={**mint(ready, tenant, "editor"), **headers}, content=content), status
    )
    assert detail in problem["detail"]
    assert stored(nats_server.url, tenant) == []


def test_only_an_editor_or_admin_token_may_write(ready: TestClient) -> None:
    body = write_body(1.0)
    is_problem(ready.post("/api/v1/write", headers=REMOTE_WRITE, content=body), 401)
    is_problem(ready.post("/api/v1/write", headers={**REMOTE_WRITE, "Authorization": "Bearer nope"}, content=body), 401)
    viewer = mint(ready, _tenant(), "viewer")
    is_problem(ready.post("/api/v1/write", headers={**REMOTE_WRITE, **viewer}, content=body), 403)
    is_problem(ready.post("/v1/logs", headers={"Content-Type": "application/json", **viewer}, content=b"{}"), 403)


def test_over_the_tenants_ingest_rate_remote_write_gets_429_and_stores_nothing(
    ready: TestClient, nats_server: NatsServer
) -> None:
    tenant = _tenant()
    headers = {**mint(ready, tenant, "editor"), **REMOTE_WRITE}
    override = {"ingest_rate": 0.5, "ingest_burst": 3}
    assert ready.put(f"/cep/admin/quotas/{tenant}", headers=ADMIN, json=override).status_code == 200
    assert ready.post("/api/v1/write", headers=headers, content=write_body(1.0, 2.0, 3.0)).status_code == 204
    refused = ready.post("/api/v1/write", headers=headers, content=write_body(4.0, 5.0))
    assert "nothing of this body was ingested" in is_problem(refused, 429)["detail"]
    assert int(refused.headers["Retry-After"]) >= 1
    assert [e["value"] for e in events_of(nats_server.url, tenant)] == [1, 2, 3]


def test_otlp_logs_in_json_answer_json_and_store_the_records(ready: TestClient, nats_server: NatsServer) -> None:
    tenant = _tenant()
    headers = {**mint(ready, tenant, "editor"), "Content-Type": "application/json"}
    response = ready.post("/v1/logs", headers=headers, content=orjson.dumps(LOGS_JSON))
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert response.json() == {}
    (event,) = events_of(nats_server.url, tenant)
    assert event["message"] == "disk almost full" and event["trace_id"] == "5b8efff798038103d269b633813fc60c"


def test_otlp_protobuf_gzip_logs_report_skipped_records_as_partial_success(
    ready: TestClient, nats_server: NatsServer
) -> None:
    tenant = _tenant()
    headers = {**mint(ready, tenant, "editor"), "Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}
    from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

    body = logs_request(
        LogRecord(attributes=[text("event.name", "cep.fake")]), LogRecord(attributes=[text("event.name", "deploy")])
    )
    response = ready.post("/v1/logs", headers=headers, content=gzip.compress(body.SerializeToString()))
    assert response.status_code == 200 and response.headers["content-type"] == "application/x-protobuf"
    partial = ExportLogsServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_log_records == 1 and "reserved_event_type" in partial.error_message
    assert [e["event_type"] for e in events_of(nats_server.url, tenant)] == ["deploy"]


def test_otlp_metrics_json_with_a_nan_answers_partial_success_in_json(
    ready: TestClient, nats_server: NatsServer
) -> None:
    tenant = _tenant()
    headers = {**mint(ready, tenant, "editor"), "Content-Type": "application/json"}
    points = [
        {"asDouble": "NaN", "timeUnixNano": "1714564800000000000"},
        {"asInt": "7", "timeUnixNano": "1714564800000000000"},
    ]
    body = {
        "resourceMetrics": [{"scopeMetrics": [{"metrics": [{"name": "queue.depth", "gauge": {"dataPoints": points}}]}]}]
    }
    response = ready.post("/v1/metrics", headers=headers, content=orjson.dumps(body))
    assert response.status_code == 200, response.text
    assert response.json() == {"partialSuccess": {"rejectedDataPoints": "1", "errorMessage": "1 skipped: 1 nan"}}
    assert events_of(nats_server.url, tenant) == [
        {"metric": "queue.depth", "value": 7, "timestamp": "2024-05-01T12:00:00Z"}
    ]
    assert ExportMetricsServiceResponse() == ExportMetricsServiceResponse.FromString(b"")


def test_a_malformed_otlp_body_is_400_and_an_unknown_media_type_415(ready: TestClient, nats_server: NatsServer) -> None:
    tenant = _tenant()
    editor = mint(ready, tenant, "editor")
    bad = ready.post(
        "/v1/metrics", headers={**editor, "Content-Type": "application/x-protobuf"}, content=b"\x0a\xff\xff"
    )
    assert "ExportMetricsServiceRequest" in is_problem(bad, 400)["detail"]
    is_problem(ready.post("/v1/metrics", headers={**editor, "Content-Type": "text/plain"}, content=b"x"), 415)
    assert stored(nats_server.url, tenant) == []


def test_the_decompressed_limit_is_the_setting(tmp_path: Path, nats_server: NatsServer) -> None:
    """CEP_MAX_DECOMPRESSED_BYTES: a body expanding past it is a 413, snappy and gzip alike; under it, stored."""
    with TestClient(create_app(settings_for(tmp_path, max_decompressed_bytes=2000))) as small:
        tenant = _tenant()
        editor = mint(_ready(small), tenant, "editor")
        padded = write_body(1.0, **{"pad": "x" * 2500})
        assert (
            "2000 bytes decompressed"
            in is_problem(small.post("/api/v1/write", headers={**editor, **REMOTE_WRITE}, content=padded), 413)[
                "detail"
            ]
        )
        gzipped = {**editor, "Content-Type": "application/json", "Content-Encoding": "gzip"}
        bomb = gzip.compress(b'{"resourceLogs": []' + b" " * 5000 + b"}")
        is_problem(small.post("/v1/logs", headers=gzipped, content=bomb), 413)
        assert (
            small.post("/api/v1/write", headers={**editor, **REMOTE_WRITE}, content=write_body(1.0)).status_code == 204
        )
        assert [e["value"] for e in events_of(nats_server.url, tenant)] == [1]
