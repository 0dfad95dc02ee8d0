"""The recorder in bulk: a fetched batch in one transaction, a redelivered batch recorded once, poison set aside."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from nats.js.client import JetStreamContext

from services.common.messages import codec
from services.common.messages.alerts import action_dict, alert
from services.common.nats import subjects
from services.common.nats.streams import ensure_streams
from tests.gateway.live_gateway import (
    HOOK,
    Episode,
    drop_stale_results,
    feed_count,
    new_tenant,
    publish_alert,
    recorder_idle,
    start_gateway,
)
from tests.support.nats import dead_letters
from tests.support.waiting import eventually_async

SQLITE_MAX_INTEGER = 2**63 - 1


async def test_a_batch_twice_and_a_poison_alert_among_good_ones(tmp_path: Path, js: JetStreamContext) -> None:
    """Published before the gateway starts, so the recorder fetches them as batches (the first one alone, then
    the rest): the copies are recorded once, and the alert SQL refuses is dead-lettered while its neighbours
    in the batch are recorded."""
    await ensure_streams(js)
    await drop_stale_results(js)
    tenant = new_tenant()
    fired = [Episode(tenant, rule_id=f"rule-{n}").transition("fired") for n in range(4)]
    poison = codec.loads(alert(Episode(tenant, rule_id="rule-x").transition("fired"), [action_dict(a) for a in HOOK]))
    poison["count"] = SQLITE_MAX_INTEGER + 5  # decodes (an int), but no SQL INTEGER holds it
    await publish_alert(js, fired[0])
    await publish_alert(js, fired[1])
    await js.publish(subjects.alerts_subject(tenant), json.dumps(poison).encode())
    for transition in fired[2:]:
        await publish_alert(js, transition)
    for transition in fired:  # the same batch again, as a redelivery or a re-publish would bring it
        await publish_alert(js, transition, dedupe=False)

    gateway = start_gateway(tmp_path)
    try:
        headers = gateway.token(tenant, "viewer")

        async def listed() -> dict[str, Any] | None:
            async with httpx.AsyncClient(base_url=gateway.url, headers=headers) as client:
                body = (await client.get("/cep/events")).json()
            return body if body["total"] == len(fired) else None

        events = (await eventually_async(listed))["items"]
        assert sorted(e["event_id"] for e in events) == sorted(t.event_id for t in fired)
        assert {e["count"] for e in events} == {1}
        (letter,) = await eventually_async(lambda: dead_letters(js, tenant))
        assert letter.source == "poison" and letter.error.startswith("recorder: not recordable: ")
        assert await eventually_async(lambda: recorder_idle(js))  # every message acked, the poison one too
        assert await feed_count(js, tenant) == len(fired)  # one feed message per transition, copies or not
    finally:
        gateway.stop()
