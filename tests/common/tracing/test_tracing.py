"""Tracing set-up and propagation: off and free without an endpoint; W3C context through headers; batch spans."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, format_trace_id, get_current_span, set_span_in_context

from services.common.messages.raw_batches import (
    RAW_BATCH_OVERHEAD,
    RawRow,
    decode_raw_batch,
    encode_raw_batch,
    row_cost,
)
from services.common.tracing import setup as tracing_setup
from services.common.tracing.propagation import (
    TRACEPARENT,
    context_of,
    extract,
    inject,
    span_context_of,
    traceparent_of,
)
from services.common.tracing.spans import batch_span, child_span, current_span, end_span, traced_batches
from services.evaluator.alert_publisher import _headers, _publish_span
from services.evaluator.shard_tracing import evaluate_span, event_traces
from services.evaluator.work import decode_message
from tests.common.messages.test_messages import transition as make_transition

A = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
B = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    assert tracing_setup.setup_tracing("test", exporter=exporter)
    yield exporter
    tracing_setup.shutdown_tracing()


def _trace_of(traceparent: str) -> str:
    return traceparent.split("-")[1]


def test_off_without_an_endpoint_nothing_is_made_or_written() -> None:
    assert not tracing_setup.setup_tracing("test")  # the test environment names no OTLP endpoint
    assert not tracing_setup.enabled()
    headers = {"Nats-Msg-Id": "x"}
    assert inject(headers) == {"Nats-Msg-Id": "x"}
    assert extract({TRACEPARENT: A}) is None and traceparent_of({TRACEPARENT: A}) is None
    assert batch_span("b", [A], {}) is None and child_span("c", None, {}) is None

    async def handler(messages: list[object]) -> None: ...

    assert traced_batches("b", handler) is handler  # the consumer calls its handler directly
    assert evaluate_span(0, []) is None and event_traces([]) is None
    with current_span("s", {}) as span:
        assert span is None


@pytest.mark.parametrize(
    ("environ", "wanted"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": " "}, False),
    ],
)
def test_tracing_is_wanted_only_with_an_endpoint(environ: dict[str, str], wanted: bool) -> None:
    assert tracing_setup.wanted(environ) is wanted


def test_otel_variables_pass_on_to_ray_actors() -> None:
    environ = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_TRACES_SAMPLER": "always_on", "HOME": "/h"}
    assert tracing_setup.otel_environment(environ) == {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x",
        "OTEL_TRACES_SAMPLER": "always_on",
    }


def test_inject_then_extract_gives_the_same_span(spans: InMemorySpanExporter) -> None:
    span = child_span("producer", None, {"cep.tenant": "acme"}, SpanKind.PRODUCER)
    assert span is not None
    headers = inject({"Nats-Msg-Id": "m1"}, set_span_in_context(span))
    assert headers[TRACEPARENT].startswith("00-") and headers["Nats-Msg-Id"] == "m1"
    parent = extract(headers)
    assert parent is not None
    remote = get_current_span(parent).get_span_context()
    assert remote.is_remote
    assert (remote.trace_id, remote.span_id) == (span.get_span_context().trace_id, span.get_span_context().span_id)
    child = child_span("consumer", parent, {})
    end_span(child)
    end_span(span)
    finished = {s.name: s for s in spans.get_finished_spans()}
    assert finished["consumer"].parent is not None
    assert finished["consumer"].parent.span_id == span.get_span_context().span_id
    assert finished["consumer"].context.trace_id == span.get_span_context().trace_id


def test_malformed_or_missing_context_gives_none(spans: InMemorySpanExporter) -> None:
    assert extract(None) is None and extract({}) is None
    assert extract({TRACEPARENT: "00-not-a-context-01"}) is None
    assert context_of(None) is None and context_of("garbage") is None
    root = child_span("root", None, {})
    assert root is not None and root.parent is None  # no parent context: a root span


def test_a_batch_span_starts_its_own_trace_and_links_each_input_once(spans: InMemorySpanExporter) -> None:
    with current_span("request", {"cep.tenant": "acme"}):  # a current span must not become the batch's parent
        span = batch_span("cep.route", [A, None, B, A, "garbage"], {"cep.events": 4})
    end_span(span)
    (finished,) = [s for s in spans.get_finished_spans() if s.name == "cep.route"]
    assert finished.parent is None
    linked = {format_trace_id(link.context.trace_id) for link in finished.links}
    assert linked == {_trace_of(A), _trace_of(B)}
    assert format_trace_id(finished.context.trace_id) not in linked  # two tenants' events: neither trace holds it
    assert dict(finished.attributes or {}) == {"cep.events": 4}


async def test_traced_batches_wraps_the_handler_in_a_linked_span(spans: InMemorySpanExporter) -> None:
    class Message:
        def __init__(self, headers: dict[str, str] | None) -> None:
            self.headers = headers

    seen: list[int] = []

    async def handler(messages: list[Message]) -> None:
        seen.append(len(messages))
        if len(messages) == 1:
            raise RuntimeError("boom")

    traced = traced_batches("cep.record", handler)
    assert traced is not handler
    await traced([Message({TRACEPARENT: A}), Message(None)])
    with pytest.raises(RuntimeError):
        await traced([Message({TRACEPARENT: B})])
    ok, failed = spans.get_finished_spans()
    assert seen == [2, 1]
    assert [format_trace_id(link.context.trace_id) for link in ok.links] == [_trace_of(A)]
    assert ok.attributes is not None and ok.attributes["cep.messages"] == 2 and ok.status.is_ok
    assert not failed.status.is_ok


def test_raw_batches_keep_each_rows_trace_context() -> None:
    rows = [
        RawRow(1, "cep.ingest.acme", "2024-05-01T12:00:00Z", None, "e1", b'{"cpu": 1}', (0,), A),
        RawRow(2, "cep.ingest.beta", "2024-05-01T12:00:00Z", None, "e2", b'{"cpu": 2}', (0,)),
        RawRow(3, "cep.ingest.acme", "2024-05-01T12:00:01Z", None, "e3", b'{"cpu": 3}', (0,), B),
    ]
    body = encode_raw_batch(rows)
    assert decode_raw_batch(body) == rows
    assert len(body) <= RAW_BATCH_OVERHEAD + sum(row_cost(row) for row in rows)
    untraced = [RawRow(r.seq, r.subject, r.stamp, r.content_type, r.msg_id, r.data, r.picks) for r in rows]
    assert b"traces" not in encode_raw_batch(untraced)  # nothing is written while tracing is off


def test_a_transition_publish_joins_its_events_trace(spans: InMemorySpanExporter) -> None:
    transition = make_transition(tenant="acme", source_event_id="e1")
    span = _publish_span(transition, {"e1": A})
    assert span is not None
    headers = _headers(transition, span)
    end_span(span)
    (finished,) = spans.get_finished_spans()
    assert format_trace_id(finished.context.trace_id) == _trace_of(A)
    assert finished.attributes is not None and finished.attributes["cep.tenant"] == "acme"
    assert _trace_of(headers[TRACEPARENT]) == _trace_of(A) and headers["Nats-Msg-Id"] == transition.transition_id


@pytest.mark.parametrize(
    "traceparent",
    [
        A,
        B.replace("-01", "-00"),  # not sampled
        "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-future",  # a later version may add fields
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",  # version 00 may not
        "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
        "00-0af7651916cd43dd8448eb211c80319x-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01",
        "garbage",
        "",
    ],
)
def test_link_contexts_are_parsed_as_the_w3c_propagator_does(spans: InMemorySpanExporter, traceparent: str) -> None:
    context = context_of(traceparent)
    expected = None if context is None else get_current_span(context).get_span_context()
    assert span_context_of(traceparent) == expected


def test_a_shard_knows_each_events_context_and_links_them(spans: InMemorySpanExporter) -> None:
    rows = [
        RawRow(1, "cep.ingest.acme", "2024-05-01T12:00:00Z", None, "e1", b'{"cpu": 1}', (0,), A),
        RawRow(2, "cep.ingest.beta", "2024-05-01T12:00:00Z", None, "e2", b'{"cpu": 2}', (0,)),
        RawRow(3, "cep.ingest.acme", "2024-05-01T12:00:00Z", None, "e3", b'{"cpu": 3}', (0,), B),
    ]
    items, bad = decode_message(7, encode_raw_batch(rows))
    assert not bad and len(items) == 3
    assert event_traces(items) == {items[0].event.event_id: A, items[2].event.event_id: B}
    end_span(evaluate_span(0, items))
    (finished,) = spans.get_finished_spans()
    assert {format_trace_id(link.context.trace_id) for link in finished.links} == {_trace_of(A), _trace_of(B)}
    assert finished.parent is None and "cep.tenant" not in (finished.attributes or {})
