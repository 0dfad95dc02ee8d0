"""Prometheus remote_write (`POST /api/v1/write`) and OTLP/HTTP (`POST /v1/metrics`, `/v1/logs`) ingest.

Thin shells: each body is decompressed under `CEP_MAX_DECOMPRESSED_BYTES`, decoded and mapped to flat events by
`services/common/domain/ingest_formats`, then stored all together on the path of `POST /cep/ingest`
(`ingest.ingest_batch`: the tenant's quota, PubAcks before the answer). Values that cannot be events (NaN,
staleness markers, ...) are skipped and counted on `/metrics` (`cep_telemetry_skipped_total`), never refused.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Request, Response
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from prometheus_client import Counter

from services.common.domain.ingest_formats.compression import BodyTooLarge, MalformedBody, decode_content
from services.common.domain.ingest_formats.flat_events import FlatBatch
from services.common.domain.ingest_formats.otlp_logs import logs_events, logs_response
from services.common.domain.ingest_formats.otlp_metrics import metrics_events, metrics_response
from services.common.domain.ingest_formats.otlp_wire import Encoding, encode_response, encoding_of, parse_request
from services.common.domain.ingest_formats.remote_write import decode_write_request, write_request_events
from services.gateway.auth import Principal, editor
from services.gateway.rest.problems import Problem
from services.gateway.routes.ingest import ingest_batch
from services.gateway.state import state_of

router = APIRouter(tags=["events"])
T = TypeVar("T")
REMOTE_WRITE_TYPE = "application/x-protobuf"
OTLP_TYPES = "application/x-protobuf or application/json"

TELEMETRY_EVENTS = Counter("cep_telemetry_events", "Events stored from Prometheus and OTLP ingest", ["source"])
TELEMETRY_SKIPPED = Counter(
    "cep_telemetry_skipped", "Prometheus samples, OTLP values and log records skipped, by reason", ["source", "reason"]
)


_OTLP_BODY = {"requestBody": {"required": True, "content": {"application/x-protobuf": {}, "application/json": {}}}}


def _errors(extra: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    common = {
        400: "the body cannot be read (compression, protobuf or JSON); the reason is in `detail`; nothing stored",
        413: "the body, compressed or decompressed, is over its limit; nothing stored",
        415: "an unsupported Content-Type or Content-Encoding",
        429: "the tenant's ingest rate limit is exhausted; nothing stored (see Retry-After)",
    }
    return {status: {"description": text} for status, text in {**common, **extra}.items()}


@router.post(
    "/api/v1/write",
    status_code=204,
    summary="Prometheus remote_write 1.0 receiver",
    response_class=Response,
    responses=_errors({204: "every sample is durable (or was skipped and counted)"}),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {REMOTE_WRITE_TYPE: {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def remote_write(request: Request, principal: Principal = Depends(editor)) -> Response:
    """Store each sample of a snappy-compressed WriteRequest as a flat metric event of the caller's tenant."""
    if _media(request.headers.get("content-type")) != REMOTE_WRITE_TYPE:
        raise _unsupported(f"Content-Type must be {REMOTE_WRITE_TYPE} (remote-write 1.0)")
    if (request.headers.get("content-encoding") or "").strip().lower() != "snappy":
        raise _unsupported("Content-Encoding must be snappy (remote-write 1.0)")
    body = await request.body()
    limit = state_of(request).settings.max_decompressed_bytes
    batch = write_request_events(_read(lambda: decode_write_request(body, limit)))
    await _store(request, principal.tenant, "prometheus", batch, body)
    return Response(status_code=204)


@router.post(
    "/v1/metrics",
    summary="OTLP/HTTP metrics (protobuf or JSON)",
    response_class=Response,
    responses=_errors({200: "an ExportMetricsServiceResponse in the request's encoding (partialSuccess on skips)"}),
    openapi_extra=_OTLP_BODY,
)
async def otlp_metrics(request: Request, principal: Principal = Depends(editor)) -> Response:
    """Store each gauge, sum, histogram and summary point as flat metric events of the caller's tenant."""
    encoding, raw = await _otlp_body(request)
    batch = metrics_events(_read(lambda: parse_request(raw, encoding, ExportMetricsServiceRequest)))
    await _store(request, principal.tenant, "otlp_metrics", batch, raw)
    return _otlp_answer(encode_response(metrics_response(batch), encoding), encoding)


@router.post(
    "/v1/logs",
    summary="OTLP/HTTP logs (protobuf or JSON)",
    response_class=Response,
    responses=_errors({200: "an ExportLogsServiceResponse in the request's encoding (partialSuccess on skips)"}),
    openapi_extra=_OTLP_BODY,
)
async def otlp_logs(request: Request, principal: Principal = Depends(editor)) -> Response:
    """Store each log record as an event of the caller's tenant (event type from `event.name`; docs/ingest.md)."""
    encoding, raw = await _otlp_body(request)
    batch = logs_events(_read(lambda: parse_request(raw, encoding, ExportLogsServiceRequest)))
    await _store(request, principal.tenant, "otlp_logs", batch, raw)
    return _otlp_answer(encode_response(logs_response(batch), encoding), encoding)


async def _otlp_body(request: Request) -> tuple[Encoding, bytes]:
    encoding = encoding_of(request.headers.get("content-type"))
    if encoding is None:
        raise _unsupported(f"Content-Type must be {OTLP_TYPES} (OTLP/HTTP)")
    body = await request.body()
    limit = state_of(request).settings.max_decompressed_bytes
    return encoding, _read(lambda: decode_content(body, request.headers.get("content-encoding"), limit))


def _read(decode: Callable[[], T]) -> T:
    """Run a decoding step; its MalformedBody is a 400 and its BodyTooLarge a 413, both with the reason."""
    try:
        return decode()
    except BodyTooLarge as exc:
        raise Problem(413, f"{exc}; nothing of this request was ingested", kind="too-large") from None
    except MalformedBody as exc:
        raise Problem(400, f"{exc}; nothing of this request was ingested", kind="malformed") from None


async def _store(request: Request, tenant: str, source: str, batch: FlatBatch, body: bytes) -> None:
    """Store the batch's events all together, then count them and the skipped values (a refused batch counts none).

    A body whose events all carry their own time is the same data when sent again (a client's retry): its message
    ids come from the body, so it is stored once. Events timed by their arrival make every request new.
    """
    timed = all("timestamp" in event for event in batch.events)
    key = source.encode() + b"\0" + (body if timed else uuid.uuid4().bytes)
    await ingest_batch(request, tenant, batch.events, key)
    TELEMETRY_EVENTS.labels(source).inc(len(batch.events))
    for reason, count in batch.skipped.items():
        TELEMETRY_SKIPPED.labels(source, reason).inc(count)


def _otlp_answer(content: bytes, encoding: Encoding) -> Response:
    media = "application/x-protobuf" if encoding == "protobuf" else "application/json"
    return Response(content, status_code=200, media_type=media)


def _media(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _unsupported(detail: str) -> Problem:
    return Problem(415, detail, kind="unsupported-media-type")
