"""Dead letters: recorded from real JetStream into SQL, listed, read, replayed and deleted by admins only.

A rule failure counts on its rule (`error_count`, `last_error`, `last_error_at`); a consumer giving up on a message
(JetStream's MAX_DELIVERIES advisory) becomes a letter holding the original message.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, PubAck, StreamConfig
from nats.js.client import JetStreamContext

from services.common.domain.events.model import Event
from services.common.domain.patterns.drops import PatternDrops
from services.common.domain.quotas.series_quota import SeriesRefusals
from services.common.domain.rules.rule_failures import RuleFailure
from services.common.messages import codec
from services.common.messages.dead_letters import DeadLetter
from services.common.messages.work import work_trigger
from services.common.nats import subjects
from services.common.nats.dead_letters import pattern_dropped_letter, rule_failure_letter, series_refused_letter
from services.gateway.auth import PLATFORM_TENANT
from tests.gateway.conftest import ADMIN, CPU_RULE, is_problem
from tests.gateway.live_gateway import LiveGateway, new_tenant, start_gateway
from tests.support.waiting import eventually_async

AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    live = start_gateway(tmp_path_factory.mktemp("dead-letters"))
    yield live
    live.stop()


def failure(tenant: str, rule_id: str, event_id: str, error: str = "OverflowError: too big") -> DeadLetter:
    event = Event(event_id, tenant, AT, {"cpu_usage": 1e308, "host": "a"}, received_at=AT)
    return rule_failure_letter(RuleFailure(rule_id, tenant, event, error), AT)


async def send(js: JetStreamContext, letter: DeadLetter) -> None:
    await js.publish(letter.subject(), letter.encode(), headers={subjects.MSG_ID: letter.id})


async def recorded(client: httpx.AsyncClient, letter_id: str) -> dict[str, Any]:
    async def found() -> dict[str, Any] | None:
        response = await client.get(f"/cep/dead-letters/{letter_id}")
        return response.json() if response.status_code == 200 else None

    return await eventually_async(found)


async def test_a_rule_failure_is_listed_and_counted_on_its_rule(gateway: LiveGateway, js: JetStreamContext) -> None:
    tenant = new_tenant()
    admin = gateway.token(tenant, "admin")
    async with httpx.AsyncClient(base_url=gateway.url, headers=admin, timeout=10) as client:
        rule = (await client.post("/cep/rules", json=CPU_RULE)).json()
        assert (rule["error_count"], rule["last_error"], rule["last_error_at"]) == (0, None, None)
        first, second = failure(tenant, rule["rule_id"], "ev-1"), failure(tenant, rule["rule_id"], "ev-2", "E: later")
        await send(js, first)
        await send(js, second)
        await send(js, first)  # JetStream drops the copy; the store would count it once anyway
        letter = await recorded(client, first.id)
        await recorded(client, second.id)
        assert letter["source"] == "rule_failure" and letter["rule_id"] == rule["rule_id"]
        assert letter["event"]["event_id"] == "ev-1" and letter["event"]["payload"] == {"cpu_usage": 1e308, "host": "a"}
        assert letter["replay"]["subject"] == subjects.ingest_subject(tenant)
        assert letter["replay"]["payload"] == {"cpu_usage": 1e308, "host": "a"} and letter["replay_count"] == 0

        stored = (await client.get(f"/cep/rules/{rule['rule_id']}")).json()
        assert (stored["error_count"], stored["last_error"]) == (2, "E: later")
        assert stored["last_error_at"] == "2026-11-26T12:00:00Z"
        listed = (await client.get("/cep/rules")).json()["items"][0]
        assert listed["error_count"] == 2 and listed["firing_count"] == 0
        # What GET returned can be sent back as a replacement: the error fields are read-only.
        replaced = await client.put(f"/cep/rules/{rule['rule_id']}", json=stored)
        assert replaced.status_code == 200, replaced.text
        assert replaced.json()["error_count"] == 2

        page = (await client.get("/cep/dead-letters", params={"limit": 1})).json()
        assert page["total"] == 2 and len(page["items"]) == 1 and page["next_cursor"]
        rest = (await client.get("/cep/dead-letters", params={"limit": 1, "cursor": page["next_cursor"]})).json()
        assert {page["items"][0]["id"], rest["items"][0]["id"]} == {first.id, second.id}
        assert (await client.get("/cep/dead-letters", params={"source": "undecodable"})).json()["total"] == 0
        assert (await client.get("/cep/dead-letters", params={"rule_id": rule["rule_id"]})).json()["total"] == 2
        is_problem(await client.get("/cep/dead-letters", params={"source": "nope"}), 422)
        is_problem(await client.get("/cep/dead-letters", params={"cursor": "!!"}), 422)


async def test_refused_series_count_on_their_rule_with_the_quota_and_how_to_raise_it(
    gateway: LiveGateway, js: JetStreamContext
) -> None:
    tenant = new_tenant()
    async with httpx.AsyncClient(base_url=gateway.url, headers=gateway.token(tenant, "admin"), timeout=10) as client:
        rule = (await client.post("/cep/rules", json=CPU_RULE)).json()
        refused = SeriesRefusals(rule["rule_id"], tenant, "series_per_rule", 3, count=7, last_key="host=h9")
        letter = series_refused_letter(refused, shard=1, at=AT)
        await send(js, letter)
        stored = await recorded(client, letter.id)
        assert (stored["source"], stored["replay"], stored["event"]["refused"]) == ("series_refused", None, 7)
        shown = (await client.get(f"/cep/rules/{rule['rule_id']}")).json()
        assert shown["error_count"] == 1 and shown["last_error_at"] == "2026-11-26T12:00:00Z"
        assert shown["last_error"].startswith("series quota of 3 per rule reached: 7 new group keys refused")
        assert f"PUT /cep/admin/quotas/{tenant}" in shown["last_error"]
        listed = (await client.get("/cep/dead-letters", params={"source": "series_refused"})).json()
        assert [item["id"] for item in listed["items"]] == [letter.id]


async def test_pattern_drops_count_on_their_rule_with_the_cap_and_the_setting(
    gateway: LiveGateway, js: JetStreamContext
) -> None:
    tenant = new_tenant()
    async with httpx.AsyncClient(base_url=gateway.url, headers=gateway.token(tenant, "admin"), timeout=10) as client:
        rule = (await client.post("/cep/rules", json=CPU_RULE)).json()
        letter = pattern_dropped_letter(PatternDrops(rule["rule_id"], tenant, 1000, 4, "user=ann"), shard=0, at=AT)
        await send(js, letter)
        stored = await recorded(client, letter.id)
        assert (stored["source"], stored["event"]["dropped"], stored["event"]["cap"]) == ("pattern_dropped", 4, 1000)
        shown = (await client.get(f"/cep/rules/{rule['rule_id']}")).json()
        assert shown["error_count"] == 1
        assert shown["last_error"].startswith("pattern cap of 1000 partial matches per key reached: 4 oldest")
        assert "CEP_PATTERN_MAX_PARTIALS" in shown["last_error"]


async def test_admins_only_and_tenant_scoped(gateway: LiveGateway, js: JetStreamContext) -> None:
    tenant, other = new_tenant(), new_tenant()
    letter = failure(tenant, "r-1", "ev-1")
    await send(js, letter)
    async with httpx.AsyncClient(base_url=gateway.url, headers=gateway.token(tenant, "admin"), timeout=10) as client:
        await recorded(client, letter.id)
    for role in ("viewer", "editor"):
        async with httpx.AsyncClient(base_url=gateway.url, headers=gateway.token(tenant, role), timeout=10) as client:
            is_problem(await client.get("/cep/dead-letters"), 403)
            is_problem(await client.post(f"/cep/dead-letters/{letter.id}/replay"), 403)
    async with httpx.AsyncClient(base_url=gateway.url, headers=gateway.token(other, "admin"), timeout=10) as client:
        assert (await client.get("/cep/dead-letters")).json()["total"] == 0
        is_problem(await client.get(f"/cep/dead-letters/{letter.id}"), 404)
        is_problem(await client.post(f"/cep/dead-letters/{letter.id}/replay"), 404)
        is_problem(await client.delete(f"/cep/dead-letters/{letter.id}"), 404)


async def test_replay_republishes_once_unless_forced_and_is_audited(gateway: LiveGateway, js: JetStreamContext) -> None:
    tenant = new_tenant()
    letter = failure(tenant, "r-1", "ev-1")
    await send(js, letter)
    async with httpx.AsyncClient(base_url=gateway.url, headers=gateway.token(tenant, "admin"), timeout=10) as client:
        await recorded(client, letter.id)
        response = await client.post(f"/cep/dead-letters/{letter.id}/replay")
        assert response.status_code == 200, response.text
        published = response.json()["published"]
        assert published["subject"] == subjects.ingest_subject(tenant) and published["stream"] == subjects.EVENTS_STREAM
        raw = await js.get_msg(subjects.EVENTS_STREAM, published["seq"])
        assert codec.loads(raw.data) == {"cpu_usage": 1e308, "host": "a"}
        assert raw.headers is not None and raw.headers[subjects.MSG_ID] == f"replay:{letter.id}:1"
        assert subjects.RECEIVED_AT not in raw.headers  # a new arrival
        assert response.json()["dead_letter"]["replay_count"] == 1

        again = is_problem(await client.post(f"/cep/dead-letters/{letter.id}/replay"), 409)
        assert "force=true" in again["detail"]
        forced = await client.post(f"/cep/dead-letters/{letter.id}/replay", params={"force": "true"})
        assert forced.status_code == 200 and forced.json()["published"]["msg_id"] == f"replay:{letter.id}:2"
        assert forced.json()["published"]["seq"] != published["seq"]

        assert (await client.delete(f"/cep/dead-letters/{letter.id}")).status_code == 204
        is_problem(await client.get(f"/cep/dead-letters/{letter.id}"), 404)
        audit = (await client.get("/cep/audit", params={"resource": "dead_letter"})).json()["items"]
        assert [(a["action"], a["resource_id"]) for a in audit] == [
            ("deleted", letter.id),
            ("replayed", letter.id),
            ("replayed", letter.id),
        ]


async def test_a_letter_with_nothing_to_replay_is_a_409(gateway: LiveGateway, js: JetStreamContext) -> None:
    tenant = new_tenant()
    letter = DeadLetter("dl-" + uuid.uuid4().hex[:24], tenant, "alert_dropped", "alert dropped: too large", AT)
    await send(js, letter)
    async with httpx.AsyncClient(base_url=gateway.url, headers=gateway.token(tenant, "admin"), timeout=10) as client:
        assert (await recorded(client, letter.id))["replay"] is None
        body = is_problem(await client.post(f"/cep/dead-letters/{letter.id}/replay"), 409)
        assert "nothing to replay" in body["detail"]


async def test_the_notifiers_letters_are_listed_as_delivery_failures(
    gateway: LiveGateway, js: JetStreamContext
) -> None:
    tenant = new_tenant()
    job = {"transition": {"tenant": tenant, "rule_id": "r-9", "at": "2026-11-26T11:00:00Z"}, "action": {}, "index": 0}
    result = {"status": "failed", "error": "http: 500", "at": "2026-11-26T11:00:05Z"}
    await js.publish(
        subjects.dead_subject(tenant), codec.dumps({"job": job, "result": result}), headers={subjects.MSG_ID: "dead:j1"}
    )
    async with httpx.AsyncClient(base_url=gateway.url, headers=gateway.token(tenant, "admin"), timeout=10) as client:

        async def listed() -> list[dict[str, Any]]:
            return (await client.get("/cep/dead-letters", params={"source": "delivery_failed"})).json()["items"]

        [letter] = await eventually_async(listed)
        assert (letter["rule_id"], letter["error"], letter["at"]) == ("r-9", "http: 500", "2026-11-26T11:00:05Z")
        assert letter["replay"]["subject"] == subjects.delivery_subject(tenant) and letter["replay"]["payload"] == job


async def give_up(js: JetStreamContext, stream: str, subject: str, data: bytes) -> PubAck:
    """Publish a message and have a consumer give up on it (max_deliver 1, never acked): CEP_DEAD gets the advisory."""
    ack = await js.publish(subject, data, headers={subjects.MSG_ID: uuid.uuid4().hex, "X-Extra": "kept"})
    durable = f"giver-upper-{uuid.uuid4().hex[:8]}"
    config = ConsumerConfig(
        durable_name=durable, ack_policy=AckPolicy.EXPLICIT, max_deliver=1, ack_wait=0.5, filter_subject=subject
    )
    sub = await js.pull_subscribe(subject, durable=durable, stream=stream, config=config)
    [msg] = await sub.fetch(1, timeout=5)  # never acknowledged: the consumer gives up after its ack wait
    assert msg.data == data
    await sub.unsubscribe()
    return ack


async def given_up(client: httpx.AsyncClient, stream: str, seq: int) -> list[dict[str, Any]]:
    """The max_deliveries letters the client sees for one message (probed until at least one shows up)."""

    async def listed() -> list[dict[str, Any]] | None:
        items = (await client.get("/cep/dead-letters", params={"source": "max_deliveries"})).json()["items"]
        return [i for i in items if (i["origin"]["stream"], i["origin"]["seq"]) == (stream, seq)] or None

    return await eventually_async(listed, timeout=20)


async def nothing_given_up(client: httpx.AsyncClient, stream: str, seq: int) -> None:
    items = (await client.get("/cep/dead-letters", params={"source": "max_deliveries"})).json()["items"]
    assert [i for i in items if (i["origin"]["stream"], i["origin"]["seq"]) == (stream, seq)] == []


async def test_a_message_past_max_deliver_becomes_a_letter_of_its_tenant(
    gateway: LiveGateway, js: JetStreamContext
) -> None:
    tenant = new_tenant()
    subject = subjects.ingest_subject(tenant)
    ack = await give_up(js, subjects.EVENTS_STREAM, subject, b'{"n": 1}')
    async with httpx.AsyncClient(base_url=gateway.url, headers=gateway.token(tenant, "admin"), timeout=10) as client:
        [letter] = await given_up(client, subjects.EVENTS_STREAM, ack.seq)
        assert letter["origin"]["subject"] == subject and letter["origin"]["consumer"].startswith("giver-upper-")
        assert "gave up after 1 deliveries" in letter["error"]
        assert letter["replay"]["payload"] == {"n": 1} and letter["replay"]["headers"] == {"X-Extra": "kept"}
        replayed = (await client.post(f"/cep/dead-letters/{letter['id']}/replay")).json()["published"]
        assert (replayed["subject"], replayed["stream"]) == (subject, subjects.EVENTS_STREAM)
        assert replayed["seq"] > ack.seq


async def test_a_platform_message_is_the_platforms_letter_whatever_its_last_token(
    gateway: LiveGateway, js: JetStreamContext
) -> None:
    tenant, name = new_tenant(), f"T_CONTROL_{uuid.uuid4().hex[:8]}"
    subject = f"test.control.{tenant}"  # like cep.control.rules: the last token is no tenant, even if it looks like one
    await js.add_stream(StreamConfig(name=name, subjects=[subject]))
    try:
        ack = await give_up(js, name, subject, b'{"op": "upsert"}')
        async with httpx.AsyncClient(base_url=gateway.url, headers=ADMIN, timeout=10) as platform:
            [letter] = await given_up(platform, name, ack.seq)
            assert letter["tenant"] == PLATFORM_TENANT
        tenant_admin = gateway.token(tenant, "admin")
        async with httpx.AsyncClient(base_url=gateway.url, headers=tenant_admin, timeout=10) as client:
            await nothing_given_up(client, name, ack.seq)
            is_problem(await client.get(f"/cep/dead-letters/{letter['id']}"), 404)
    finally:
        await js.delete_stream(name)


async def test_a_work_message_is_the_letter_of_the_tenant_it_names(gateway: LiveGateway, js: JetStreamContext) -> None:
    tenant, other = new_tenant(), new_tenant()
    subject = subjects.work_subject(9000 + uuid.uuid4().int % 1000)  # a shard no test runs
    event = Event("ev-1", tenant, AT, {"cpu_usage": 1}, received_at=AT)
    ack = await give_up(js, subjects.WORK_STREAM, subject, work_trigger(event, "r-1", "cep.trigger.reply.x"))
    async with httpx.AsyncClient(base_url=gateway.url, headers=gateway.token(tenant, "admin"), timeout=10) as client:
        [letter] = await given_up(client, subjects.WORK_STREAM, ack.seq)
        assert letter["tenant"] == tenant and letter["rule_id"] == "r-1"
        # Only the platform republishes to the work stream.
        is_problem(await client.post(f"/cep/dead-letters/{letter['id']}/replay"), 409)
    async with httpx.AsyncClient(base_url=gateway.url, headers=gateway.token(other, "admin"), timeout=10) as client:
        await nothing_given_up(client, subjects.WORK_STREAM, ack.seq)
