"""A real local OTLP/HTTP trace receiver: decodes each ExportTraceServiceRequest (opentelemetry-proto) into spans."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from tests.support.local_http import QuietHandler, serving


@dataclass(frozen=True)
class ReceivedSpan:
    """One exported span: its service, name, ids (hex), parent, the trace ids it links to, its attributes."""

    service: str
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    links: tuple[str, ...]
    attributes: dict[str, Any]

    def in_trace(self, trace_id: str) -> bool:
        """Whether the span is part of the trace, or (a batch span) links to it."""
        return self.trace_id == trace_id or trace_id in self.links


@dataclass
class OtlpReceiver:
    """The endpoint to give as OTEL_EXPORTER_OTLP_ENDPOINT, and every span received so far."""

    endpoint: str
    spans: list[ReceivedSpan] = field(default_factory=list)
    requests: int = 0
    bytes: int = 0

    def wait_for(self, found: Callable[[list[ReceivedSpan]], bool], timeout: float = 30) -> list[ReceivedSpan]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            spans = list(self.spans)
            if found(spans):
                return spans
            time.sleep(0.1)
        return list(self.spans)


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return None if kind is None else getattr(value, kind)


def decode_spans(body: bytes) -> list[ReceivedSpan]:
    """The spans of an OTLP/HTTP protobuf trace export."""
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    out = []
    for resource_spans in request.resource_spans:
        resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                out.append(
                    ReceivedSpan(
                        service=str(resource.get("service.name", "")),
                        name=span.name,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        links=tuple(link.trace_id.hex() for link in span.links),
                        attributes={a.key: _value(a.value) for a in span.attributes},
                    )
                )
    return out


@contextmanager
def otlp_receiver(decode: bool = True) -> Iterator[OtlpReceiver]:
    """Serve POST /v1/traces on 127.0.0.1 with a free port for the duration of the block.

    `decode=False` only counts requests and bytes (the benchmark's receiver: little CPU taken from the stack).
    """
    state = OtlpReceiver(endpoint="")
    lock = threading.Lock()

    class Handler(QuietHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            if self.path != "/v1/traces" or self.headers.get("content-type") != "application/x-protobuf":
                self.send_response(404)
                self.end_headers()
                return
            spans = decode_spans(body) if decode else []
            with lock:
                state.requests += 1
                state.bytes += len(body)
                state.spans.extend(spans)
            answer = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    with serving(Handler) as url:
        state.endpoint = url
        yield state
