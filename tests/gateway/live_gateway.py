"""Helpers for recorder, events and SSE tests: a real gateway (uvicorn in a thread), alert messages, SSE parsing."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from nats.js.client import JetStreamContext

from services.common.cli.procs import free_port
from services.common.domain.lifecycle.transitions import Transition, episode_id, fingerprint, transition_id
from services.common.messages import codec
from services.common.messages.alerts import Action, action_dict, alert
from services.common.messages.delivery import DeliveryResult
from services.common.nats import subjects
from services.gateway.app import create_app
from services.gateway.state import started
from tests.gateway.conftest import ADMIN, settings_for

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
HOOK = [Action(type="webhook", channel="ops-hook", message="cpu {{ payload.cpu }}")]


def new_tenant() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


@dataclass
class Episode:
    """One episode of a rule in a tenant, producing the transitions the evaluator would publish."""

    tenant: str
    rule_id: str = "rule-1"
    group_key: str = ""
    started_at: datetime = T0
    severity: str = "high"
    trigger_type: str = "metric"
    rule_version: int = 1
    updates: int = field(default=0)

    @property
    def event_id(self) -> str:
        return episode_id(self.tenant, self.rule_id, self.rule_version, self.group_key, self.started_at)

    def transition(
        self,
        kind: str,
        *,
        at: datetime | None = None,
        count: int = 1,
        payload: dict[str, Any] | None = None,
        last_seen: datetime | None = None,
    ) -> Transition:
        """A fired/updated/resolved transition of this episode (updated ones get successive sequence numbers)."""
        sequence = 0
        if kind == "updated":
            self.updates += 1
            sequence = self.updates
        at = at or self.started_at
        return Transition(
            transition_id=transition_id(
                self.tenant, self.rule_id, self.rule_version, self.group_key, self.started_at, kind, sequence
            ),
            kind=kind,  # type: ignore[arg-type]
            tenant=self.tenant,
            rule_id=self.rule_id,
            rule_version=self.rule_version,
            rule_name=f"{self.rule_id}-name",
            severity=self.severity,
            trigger_type=self.trigger_type,
            event_id=self.event_id,
            fingerprint=fingerprint(self.tenant, self.rule_id, self.group_key),
            group_key=self.group_key,
            at=at,
            started_at=self.started_at,
            count=count,
            last_seen=last_seen or at,
            payload=payload or {"cpu": 90 + count},
            value=90 + count,
            explanation=[{"expr": "cpu > 85", "result": True, "value": 90 + count}],
            summary="cpu > 85",
            source_event_id=f"src-{count}",
            reason="test",
            notify=kind != "updated",
            priority="P2",
        )


async def publish_alert(
    js: JetStreamContext, transition: Transition, actions: list[Action] | None = None, *, dedupe: bool = True
) -> None:
    """Publish an alert as the evaluator does (dedupe=False: a second copy JetStream will not drop)."""
    headers = {subjects.MSG_ID: transition.transition_id} if dedupe else None
    data = alert(transition, [action_dict(a) for a in (HOOK if actions is None else actions)])
    await js.publish(subjects.alerts_subject(transition.tenant), data, headers=headers)


async def publish_result(js: JetStreamContext, result: DeliveryResult, *, dedupe: bool = True) -> None:
    """Publish a delivery result as the notifier does."""
    headers = {subjects.MSG_ID: result.msg_id()} if dedupe else None
    await js.publish(subjects.results_subject(result.tenant), codec.dumps(result.as_dict()), headers=headers)


def result_for(
    transition: Transition, attempt: int, status: str, *, error: str | None = None, final: bool = False
) -> DeliveryResult:
    """A delivery result of the first action of a transition."""
    return DeliveryResult(
        tenant=transition.tenant,
        event_id=transition.event_id,
        transition_id=transition.transition_id,
        action_index=0,
        channel="ops-hook",
        channel_id="ch-1",
        type="webhook",
        status=status,  # type: ignore[arg-type]
        attempt=attempt,
        at=T0 + timedelta(seconds=attempt),
        latency_ms=12.5,
        status_code=500 if error else 200,
        error=error,
        final=final,
    )


async def feed_count(js: JetStreamContext, tenant: str) -> int:
    """How many messages the tenant's feed stream holds (0 when it does not exist yet)."""
    try:
        info = await js.stream_info(subjects.feed_stream(tenant))
    except Exception:
        return 0
    return int(info.state.messages)


async def recorder_idle(js: JetStreamContext) -> bool:
    """Whether the recorder has nothing pending: no alert or delivery result undelivered or un-acked.

    A result whose event is not recorded yet stays un-acked on purpose (nak'd with a delay until the alert
    arrives, services/gateway/recorders/event_recorder.py), so results that earlier tests left for events of their
    own databases would keep the results consumer busy for an hour: call `drop_stale_results` once the gateway
    runs, before publishing what this test checks.
    """
    alerts = await js.consumer_info(subjects.ALERTS_STREAM, subjects.RECORDER_CONSUMER)
    results = await js.consumer_info(subjects.RESULTS_STREAM, subjects.RESULTS_CONSUMER)
    return not (alerts.num_pending or alerts.num_ack_pending or results.num_pending or results.num_ack_pending)


async def drop_stale_results(js: JetStreamContext) -> None:
    """Purge the results stream (the consumer's pending and un-acked messages go with it): a clean slate."""
    await js.purge_stream(subjects.RESULTS_STREAM)


@dataclass
class LiveGateway:
    """A gateway served by uvicorn on a loopback port, in its own thread and event loop."""

    url: str
    app: FastAPI
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "the gateway did not stop"

    def token(self, tenant: str, role: str = "editor", name: str | None = None) -> dict[str, str]:
        """Mint a token as the platform admin; return the Authorization header."""
        body = {"tenant": tenant, "role": role, "name": name or f"{role}-of-{tenant}"}
        response = httpx.post(f"{self.url}/cep/auth/tokens", headers=ADMIN, json=body, timeout=10)
        assert response.status_code == 201, response.text
        return {"Authorization": f"Bearer {response.json()['token']}"}


def start_gateway(state_dir: Path, database_url: str | None = None, **overrides: Any) -> LiveGateway:
    """Start a gateway and wait until it serves and its recorder consumers are bound."""
    app = create_app(settings_for(state_dir, database_url, **overrides))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name=f"gateway-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not (server.started and _recorder_bound(app)):
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            raise RuntimeError("the test gateway did not start")
        time.sleep(0.02)
    return LiveGateway(f"http://127.0.0.1:{port}", app, server, thread)


def _recorder_bound(app: FastAPI) -> bool:
    state = started(app)
    return bool(state and state.recorder.alerts.bound and state.recorder.results.bound)


@dataclass
class SseMessage:
    """One SSE message (or a comment line, kind None)."""

    id: str | None
    event: str | None
    data: str | None
    comment: str | None = None

    def json(self) -> Any:
        assert self.data is not None
        return codec.loads(self.data)


async def sse_messages(response: httpx.Response) -> AsyncIterator[SseMessage]:
    """Parse a `text/event-stream` body into messages; comments come through as their own items."""
    fields: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line.startswith(":"):
            yield SseMessage(None, None, None, comment=line[1:].strip())
            continue
        if line == "":
            if fields:
                yield SseMessage(fields.get("id"), fields.get("event"), fields.get("data"))
                fields = {}
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        fields[name] = value if name != "data" or "data" not in fields else f"{fields['data']}\n{value}"
