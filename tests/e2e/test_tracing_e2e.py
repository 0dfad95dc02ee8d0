"""One event's trace across the services of a `cep up` stack exporting over OTLP/HTTP to a real local receiver.

The event fires a rule that notifies a webhook: its trace id is on the spans of the gateway (ingest), the router,
the shard, the recorder and the notifier (as the span's own trace, or a batch span's link), and another tenant's
event, ingested alongside, never shows up in it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.otlp_receiver import OtlpReceiver, ReceivedSpan, otlp_receiver
from tests.support.receiver import Receiver, receiver
from tests.support.stack import Stack, start_stack, stop_stack

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# (service, span): the batch spans (route, evaluate, record) link the trace; the others are in it.
EXPECTED = {
    ("cep-gateway", "cep.ingest"),
    ("cep-ingest", "cep.route"),
    ("cep-evaluator", "cep.evaluate"),
    ("cep-evaluator", "cep.transition publish"),
    ("cep-gateway", "cep.record"),
    ("cep-notifier", "cep.notify intake"),
    ("cep-notifier", "cep.notify deliver"),
}


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, OtlpReceiver]]:
    state: Path = tmp_path_factory.mktemp("traced") / "state"
    with otlp_receiver() as otlp:
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "200",  # export within a fraction of a second
            "NO_PROXY": "127.0.0.1,localhost",
        }
        stack = start_stack(state, env=env)
        try:
            yield stack, otlp
        finally:
            stop_stack(stack)


def _tenant_client(stack: Stack, tenant: str) -> httpx.Client:
    with stack.client() as admin:
        minted = admin.post("/cep/auth/tokens", json={"tenant": tenant, "role": "editor", "name": "sre"})
    assert minted.status_code == 201, minted.text
    return stack.client(minted.json()["token"])


def _notifying_rule(api: httpx.Client, hook: Receiver) -> None:
    created = api.post("/cep/channels", json={"name": "hook", "type": "webhook", "config": {"url": hook.url}})
    assert created.status_code == 201, created.text
    rule = {
        "name": "traced",
        "active": True,
        "trigger_type": "event",
        "trigger_spec": {"event_type": "deploy.failed", "group_by": ["case"], "resolve_after": "1h"},
        "action_spec": [{"type": "notify", "channel": "hook", "message": "deploy failed"}],
    }
    answer = api.post("/cep/rules", json=rule)
    assert answer.status_code == 201, answer.text


def _ingest(api: httpx.Client) -> str:
    answer = api.post("/cep/ingest", json={"event_type": "deploy.failed", "case": uuid.uuid4().hex})
    assert answer.status_code == 202, answer.text
    (event_id,) = answer.json()["event_ids"]
    return str(event_id)


def _trace_of(spans: list[ReceivedSpan], event_id: str) -> str | None:
    for span in spans:
        if span.name == "cep.ingest" and span.attributes.get("cep.event_id") == event_id:
            return span.trace_id
    return None


def _found(spans: list[ReceivedSpan], trace_id: str | None) -> set[tuple[str, str]]:
    return {(s.service, s.name) for s in spans if trace_id is not None and s.in_trace(trace_id)}


def test_one_event_has_one_trace_from_ingest_to_delivery(traced: tuple[Stack, OtlpReceiver]) -> None:
    stack, otlp = traced
    acme, beta = f"acme-{uuid.uuid4().hex[:6]}", f"beta-{uuid.uuid4().hex[:6]}"
    with receiver() as hook_a, receiver() as hook_b, _tenant_client(stack, acme) as a, _tenant_client(stack, beta) as b:
        _notifying_rule(a, hook_a)
        _notifying_rule(b, hook_b)
        event_a, event_b = _ingest(a), _ingest(b)
        hook_a.wait_for(1, timeout=60)
        hook_b.wait_for(1, timeout=60)

    def complete(spans: list[ReceivedSpan]) -> bool:
        return all(_found(spans, _trace_of(spans, e)) >= EXPECTED for e in (event_a, event_b))

    spans = otlp.wait_for(complete, timeout=30)
    trace_a, trace_b = _trace_of(spans, event_a), _trace_of(spans, event_b)
    assert trace_a is not None and trace_b is not None and trace_a != trace_b
    assert _found(spans, trace_a) >= EXPECTED, sorted(_found(spans, trace_a))
    assert _found(spans, trace_b) >= EXPECTED, sorted(_found(spans, trace_b))
    for trace_id, tenant in ((trace_a, acme), (trace_b, beta)):
        own = [s for s in spans if s.trace_id == trace_id]
        tenants = {s.attributes.get("cep.tenant") for s in own}
        assert tenants == {tenant}, tenants  # every span in the trace is about this tenant, none about the other
        for span in own:
            assert not any(isinstance(v, str) and "deploy.failed" in v for v in span.attributes.values()), span
    delivered = _in(spans, trace_a, "cep.notify deliver")
    assert delivered.attributes["cep.status"] == "sent" and delivered.attributes["cep.channel_type"] == "webhook"
    publish = _in(spans, trace_a, "cep.transition publish")
    assert delivered.attributes["cep.transition_id"] == publish.attributes["cep.transition_id"]
    ingest = _in(spans, trace_a, "cep.ingest")
    assert publish.parent_span_id == ingest.span_id  # the transition is a child of the event that caused it


def _in(spans: list[ReceivedSpan], trace_id: str, name: str) -> ReceivedSpan:
    (span,) = [s for s in spans if s.trace_id == trace_id and s.name == name]
    return span
