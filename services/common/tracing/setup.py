"""Tracing set up once per process from the standard OTEL_* variables; off (and free) unless an endpoint is set.

With `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) set, spans go over OTLP/HTTP in
batches; the sampler comes from `OTEL_TRACES_SAMPLER`/`OTEL_TRACES_SAMPLER_ARG` (default: parent-based, always on)
and `service.name` from `OTEL_SERVICE_NAME`, else `cep-<service>`. Without an endpoint nothing is imported from
the SDK and `tracer()` is None: every call site checks `enabled()` first, so no span object is ever made.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from opentelemetry.trace import Tracer

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

log = logging.getLogger(__name__)

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
INSTRUMENTATION = "cep"

_provider: TracerProvider | None = None
_tracer: Tracer | None = None


def wanted(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the environment asks for traces: an OTLP endpoint is set and the SDK is not disabled."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)


def otel_environment(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The OTEL_* variables of this process, for children that do not inherit its environment (Ray actors)."""
    return {name: value for name, value in environ.items() if name.startswith("OTEL_")}


def setup_tracing(service: str, exporter: SpanExporter | None = None) -> bool:
    """Start tracing for this process as `service` (idempotent); True when spans are recorded.

    `exporter` replaces the OTLP exporter and is flushed span by span (the SDK's in-memory exporter in unit tests);
    without it tracing starts only when `wanted()`.
    """
    global _provider, _tracer
    if _tracer is not None:
        return True
    if exporter is None and not wanted():
        return False
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    name = os.environ.get("OTEL_SERVICE_NAME", "").strip() or f"cep-{service}"
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))  # the sampler from OTEL_TRACES_SAMPLER
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    _provider, _tracer = provider, provider.get_tracer(INSTRUMENTATION)
    log.info("tracing on: spans of %s go over OTLP", name)
    return True


def enabled() -> bool:
    """Whether this process records spans (the one check every call site makes first)."""
    return _tracer is not None


def tracer() -> Tracer | None:
    return _tracer


def shutdown_tracing() -> None:
    """Export what is buffered and stop tracing (the SDK also does this at exit); tracing is off afterwards."""
    global _provider, _tracer
    provider, _provider, _tracer = _provider, None, None
    if provider is not None:
        provider.shutdown()
