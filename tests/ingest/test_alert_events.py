"""The alert-event publisher against a real nats-server: transitions and ACK notices on CEP_ALERTS come back as
internal `cep.alert.*` events of their tenant, once each, and what must not enter the pipeline does not."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext

from services.common.domain.events.alert_events import MAX_DEPTH
from services.common.messages import codec
from services.common.messages.alerts import alert
from services.common.messages.feed import feed
from services.common.nats import subjects
from services.common.nats.streams import ensure_streams
from services.ingest.alert_events import CONSUMER, AlertEventPublisher
from tests.notifier.running import FIRED_AT, transition
from tests.support.nats import NatsServer, start_nats

TENANT = "acme"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[NatsServer]:
    server = start_nats(tmp_path / "nats")
    yield server
    server.stop()


@pytest.fixture
async def nc(broker: NatsServer) -> AsyncIterator[Client]:
    client = await nats.connect(broker.url)
    await ensure_streams(client.jetstream())
    yield client
    await client.close()


async def internal_events(js: JetStreamContext, want: int, wait: float = 10.0) -> list[tuple[str, dict[str, Any]]]:
    """(Nats-Msg-Id, body) of each message on the tenant's internal subject, once `want` came (or `wait` ran out)."""
    config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL, filter_subject=subjects.internal_subject(TENANT))
    sub = await js.pull_subscribe(subjects.internal_subject(TENANT), durable=None, config=config)
    found: list[tuple[str, dict[str, Any]]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while loop.time() < deadline:
        try:
            for msg in await sub.fetch(10, timeout=0.3):
                found.append(((msg.headers or {}).get(subjects.MSG_ID, ""), codec.loads(msg.data)))
                await msg.ack()
        except TimeoutError:
            if len(found) >= want:
                break
    await sub.unsubscribe()
    return found


async def test_fired_resolved_and_acked_events_come_back_once_each(nc: Client) -> None:
    js = nc.jetstream()
    fired = transition(TENANT, group_key="host=db-1")
    resolved = transition(TENANT, kind="resolved", rule_id=fired.rule_id, event_id=fired.event_id)
    updated = transition(TENANT, kind="updated")
    too_deep = transition(TENANT, depth=MAX_DEPTH + 1)
    for item in (fired, updated, too_deep, resolved):
        await js.publish(
            subjects.alerts_subject(TENANT), alert(item, []), headers={subjects.MSG_ID: item.transition_id}
        )
    acked = {
        "event_id": fired.event_id,
        "tenant": TENANT,
        "rule_id": fired.rule_id,
        "rule_name": "cpu_high_alert",
        "severity": "high",
        "priority": "P2",
        "group_key": "host=db-1",
        "fired_at": "2024-05-01T12:00:00Z",
        "acked_at": "2024-05-01T12:03:00Z",
        "labels": {"team": "db"},
    }
    await js.publish(subjects.acks_subject(TENANT), feed("acked", acked))
    await js.publish(subjects.alerts_subject(TENANT), b'{"kind": "fired"}')  # malformed: dead-lettered

    publisher = AlertEventPublisher(nc)
    await publisher.start()
    try:
        found = await internal_events(js, 3)
    finally:
        await publisher.stop()

    assert [msg_id for msg_id, _ in found] == [
        f"alert-event:{fired.transition_id}",
        f"alert-event:{resolved.transition_id}",
        f"alert-event:ack:{fired.event_id}",
    ]
    bodies = [body for _, body in found]
    assert [b["event_type"] for b in bodies] == ["cep.alert.fired", "cep.alert.resolved", "cep.alert.acked"]
    assert bodies[0]["group"] == {"host": "db-1"} and bodies[0]["depth"] == 1
    assert bodies[0]["timestamp"] == bodies[0]["at"] == FIRED_AT.isoformat().replace("+00:00", "Z")
    assert bodies[2]["labels"] == {"team": "db"} and bodies[2]["at"] == "2024-05-01T12:03:00Z"
    info = await js.consumer_info(subjects.ALERTS_STREAM, CONSUMER)
    assert info.num_ack_pending == 0 and info.num_pending == 0  # every input acked, the malformed one included

    # A second publisher reading the same inputs again (a crash before the acks) publishes nothing new.
    await js.delete_consumer(subjects.ALERTS_STREAM, CONSUMER)
    again = AlertEventPublisher(nc)
    await again.start()
    try:
        await asyncio.sleep(1.5)
    finally:
        await again.stop()
    assert len(await internal_events(js, 3, wait=1.0)) == 3  # JetStream de-duplicated by Nats-Msg-Id
