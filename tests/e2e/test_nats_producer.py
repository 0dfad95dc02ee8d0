"""A producer sends events over NATS to `cep up`: only with an editor token, only on its tenant's subject."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import nats
import nats.errors
import pytest

from services.common import subjects
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e


def nats_url(stack: Stack) -> str:
    """The stack's NATS address as a producer finds it: `.cep/ports.json`, no credentials."""
    ports = json.loads((stack.state_dir / "ports.json").read_text())
    return f"nats://127.0.0.1:{ports['nats']}"


@pytest.fixture(scope="module")
def tenant(stack: Stack) -> dict[str, str]:
    """A fresh tenant with an editor and a viewer token and an active rule that fires on the first sample."""
    name = f"natsprod-{uuid.uuid4().hex[:6]}"
    with stack.client() as admin:
        minted = {
            role: admin.post("/cep/auth/tokens", json={"tenant": name, "role": role, "name": f"nats-{role}"})
            for role in ("editor", "viewer")
        }
    assert all(r.status_code == 201 for r in minted.values()), {k: r.text for k, r in minted.items()}
    editor = minted["editor"].json()["token"]
    rule = {
        "name": "nats_cpu_high",
        "trigger_type": "metric",
        "trigger_spec": {"metric_name": "nats_cpu", "operator": ">", "threshold": 85},
        "action_spec": [],
        "active": True,
    }
    with stack.client(editor) as api:
        created = api.post("/cep/rules", json=rule)
    assert created.status_code == 201, created.text
    assert created.json()["active"] is True
    return {
        "name": name,
        "editor": editor,
        "viewer": minted["viewer"].json()["token"],
        "rule": created.json()["rule_id"],
    }


async def refused(url: str, **options: Any) -> None:
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(url, allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=5, **options)


async def test_anonymous_and_viewer_connections_are_refused(stack: Stack, tenant: dict[str, str]) -> None:
    url = nats_url(stack)
    await refused(url)
    await refused(url, token=tenant["viewer"])
    await refused(url, token="cep_not-a-token")


async def test_an_editor_token_publishes_an_event_over_nats_that_fires_a_rule(
    stack: Stack, tenant: dict[str, str]
) -> None:
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    producer = await nats.connect(
        nats_url(stack),
        token=tenant["editor"],
        inbox_prefix=subjects.producer_inbox_prefix(tenant["name"]),
        error_cb=on_error,
        allow_reconnect=False,
    )
    try:
        js = producer.jetstream()
        event = {"nats_cpu": 97, "host": "nats-producer-1"}
        ack = await js.publish(
            subjects.ingest_subject(tenant["name"]), json.dumps(event).encode(), headers={"Nats-Msg-Id": "np-1"}
        )
        assert ack.stream == subjects.EVENTS_STREAM
        with pytest.raises(nats.errors.TimeoutError):  # another tenant's subject: refused, no PubAck
            await js.publish("cep.ingest.default", json.dumps(event).encode(), timeout=1)
        assert any('publish to "cep.ingest.default"' in e for e in errors), errors
    finally:
        await producer.close()

    with stack.client(tenant["editor"]) as api:
        deadline = time.monotonic() + 60
        while not (items := api.get("/cep/events", params={"rule_id": tenant["rule"]}).json()["items"]):
            assert time.monotonic() < deadline, "the event published over NATS did not fire the rule"
            await asyncio.sleep(0.2)
    assert items[0]["rule_id"] == tenant["rule"] and items[0]["status"] == "open"
