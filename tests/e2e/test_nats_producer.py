"""A producer sends events over NATS to `cep up`: only with an editor token, only on its tenant's subject."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import httpx
import nats
import nats.aio.client
import nats.errors
import nats.js.errors
import pytest

from services.common.nats import subjects
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


def internal_url(stack: Stack) -> str:
    """The platform's own NATS user (as every service connects): only to look at platform state in these tests."""
    ports = json.loads((stack.state_dir / "ports.json").read_text())
    password = json.loads((stack.state_dir / "nats-auth.json").read_text())["password"]
    return f"nats://cep-internal:{password}@127.0.0.1:{ports['nats']}"


async def producer_for(stack: Stack, tenant: str, token: str, **options: Any) -> nats.aio.client.Client:
    return await nats.connect(
        nats_url(stack), token=token, inbox_prefix=subjects.producer_inbox_prefix(tenant), **options
    )


async def test_forged_reply_subjects_reach_no_other_tenant_and_no_platform_state(
    stack: Stack, tenant: dict[str, str]
) -> None:
    """JetStream answers a publish on its reply subject; NATS never checks a reply subject against publish
    permissions. A producer names another tenant's ingest subject and platform KV keys as replies: nothing there
    changes, and the victim's rule (which fires on any sample) stays silent."""
    victim = f"victim-{uuid.uuid4().hex[:6]}"
    with stack.client() as admin:
        minted = admin.post("/cep/auth/tokens", json={"tenant": victim, "role": "editor", "name": "victim"})
    assert minted.status_code == 201, minted.text
    rule = {
        "name": "any_sample",
        "trigger_type": "metric",
        "trigger_spec": {"metric_name": "seq", "operator": ">", "threshold": 0},
        "active": True,
    }
    with stack.client(minted.json()["token"]) as victim_api:
        assert victim_api.post("/cep/rules", json=rule).status_code == 201
    internal = await nats.connect(internal_url(stack))
    try:
        control = await internal.jetstream().key_value(subjects.CONTROL_BUCKET)
        shard_map = (await control.get(subjects.SHARD_MAP_KEY)).value
        producer = await producer_for(stack, tenant["name"], tenant["editor"], allow_reconnect=False)
        try:
            for reply in (
                subjects.ingest_subject(victim),
                f"$KV.{subjects.CONTROL_BUCKET}.{subjects.SHARD_MAP_KEY}",
                f"$KV.{subjects.ROUTER_LIVE_BUCKET}.{subjects.ROUTER_LEASE_KEY}",
            ):
                await producer.publish(subjects.ingest_subject(tenant["name"]), b'{"nats_cpu": 1}', reply=reply)
            await producer.flush()
        finally:
            await producer.close()
        await asyncio.sleep(3)
        assert (await control.get(subjects.SHARD_MAP_KEY)).value == shard_map
    finally:
        await internal.close()
    with stack.client(minted.json()["token"]) as victim_api:
        assert victim_api.get("/cep/events").json()["items"] == []


async def test_a_revoked_tokens_open_connection_is_closed(stack: Stack, tenant: dict[str, str]) -> None:
    with stack.client() as admin:
        minted = admin.post("/cep/auth/tokens", json={"tenant": tenant["name"], "role": "editor", "name": "revokee"})
    assert minted.status_code == 201, minted.text
    closed = asyncio.Event()

    async def on_closed() -> None:
        closed.set()

    producer = await producer_for(
        stack,
        tenant["name"],
        minted.json()["token"],
        closed_cb=on_closed,
        max_reconnect_attempts=3,
        reconnect_time_wait=0.2,
    )
    try:
        ack = await producer.jetstream().publish(subjects.ingest_subject(tenant["name"]), b'{"nats_cpu": 1}')
        assert ack.stream == subjects.EVENTS_STREAM
        with stack.client() as admin:
            assert admin.delete(f"/cep/auth/tokens/{minted.json()['token_id']}").status_code == 204
        await asyncio.wait_for(closed.wait(), 15)  # swept within seconds; its reconnects are refused
    finally:
        if not producer.is_closed:
            await producer.close()


async def test_a_producer_over_its_quota_is_refused_and_counted(stack: Stack) -> None:
    name = f"ratelimited-{uuid.uuid4().hex[:6]}"
    with stack.client() as admin:
        minted = admin.post("/cep/auth/tokens", json={"tenant": name, "role": "editor", "name": "fast"})
        assert minted.status_code == 201, minted.text
        quota = admin.put(f"/cep/admin/quotas/{name}", json={"ingest_rate": 1, "ingest_burst": 5})
        assert quota.status_code == 200, quota.text
    producer = await producer_for(stack, name, minted.json()["token"], allow_reconnect=False)
    refused = None
    try:
        js = producer.jetstream()
        deadline = time.monotonic() + 20
        while refused is None:  # the quota reaches the ingest service through its KV watch
            assert time.monotonic() < deadline, "the producer was never refused"
            try:
                await js.publish(subjects.ingest_subject(name), json.dumps([{"n": i} for i in range(5)]).encode())
            except nats.js.errors.APIError as exc:
                refused = exc
            await asyncio.sleep(0.1)
    finally:
        await producer.close()
    assert refused.code == 429 and "ingest rate of 1 events/s" in str(refused.description)
    ports = json.loads((stack.state_dir / "ports.json").read_text())
    metrics = httpx.get(f"http://127.0.0.1:{ports['ingest']}/metrics").text
    assert f'cep_ingest_nats_events_total{{result="rate_limited",tenant="{name}"}}' in metrics
