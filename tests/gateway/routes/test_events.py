"""Events routes over real recorded events (SQLite and PostgreSQL): list filters and order, detail, ACK, feedback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from nats.js.client import JetStreamContext

from services.common.messages import codec
from services.common.nats import subjects
from tests.gateway.conftest import is_problem
from tests.gateway.live_gateway import (
    T0,
    Episode,
    LiveGateway,
    drop_stale_results,
    feed_count,
    new_tenant,
    publish_alert,
    recorder_idle,
    start_gateway,
)
from tests.support.waiting import eventually_async


@pytest.fixture
def gateway(tmp_path: Path, database_url: str) -> Iterator[LiveGateway]:
    live = start_gateway(tmp_path, database_url)
    yield live
    live.stop()


class Seeded:
    """A tenant with five events: rules a/b, severities, one resolved, fired a minute apart (e4 newest)."""

    def __init__(self, gateway: LiveGateway) -> None:
        self.tenant = new_tenant()
        self.editor = gateway.token(self.tenant, "editor", name="alice")
        self.viewer = gateway.token(self.tenant, "viewer")
        self.client = httpx.AsyncClient(base_url=gateway.url, headers=self.editor, timeout=10)
        self.episodes = [
            Episode(self.tenant, rule_id="rule-a" if i % 2 == 0 else "rule-b", group_key=f"host=h{i}",
                    started_at=T0 + timedelta(minutes=i), severity="critical" if i == 3 else "high")
            for i in range(5)
        ]  # fmt: skip

    async def publish(self, js: JetStreamContext) -> None:
        await drop_stale_results(js)
        for episode in self.episodes:
            await publish_alert(js, episode.transition("fired"))
        first = self.episodes[0]
        await publish_alert(js, first.transition("resolved", at=T0 + timedelta(minutes=9)))
        await eventually_async(lambda: self._recorded(len(self.episodes)))
        await eventually_async(lambda: recorder_idle(js))

    async def _recorded(self, count: int) -> bool:
        return (await self.client.get("/cep/events")).json()["total"] == count

    async def ids(self, **params: Any) -> list[str]:
        response = await self.client.get("/cep/events", params=params)
        assert response.status_code == 200, response.text
        return [item["event_id"] for item in response.json()["items"]]

    def id(self, index: int) -> str:
        return self.episodes[index].event_id


@pytest.fixture
async def seeded(gateway: LiveGateway, js: JetStreamContext) -> AsyncIterator[Seeded]:
    data = Seeded(gateway)
    await data.publish(js)
    yield data
    await data.client.aclose()


async def test_list_is_newest_first_and_filters(seeded: Seeded) -> None:
    assert await seeded.ids() == [seeded.id(i) for i in (4, 3, 2, 1, 0)]
    assert await seeded.ids(rule_id="rule-b") == [seeded.id(3), seeded.id(1)]
    assert await seeded.ids(severity="critical") == [seeded.id(3)]
    assert await seeded.ids(status="resolved") == [seeded.id(0)]
    assert await seeded.ids(status="open", rule_id="rule-a") == [seeded.id(4), seeded.id(2)]
    since, until = "2025-03-01T12:01:00Z", "2025-03-01T12:03:00Z"
    assert await seeded.ids(since=since, until=until) == [seeded.id(3), seeded.id(2), seeded.id(1)]


async def test_list_pages_with_a_cursor(seeded: Seeded) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await seeded.client.get("/cep/events", params=params)).json()
        assert page["total"] == 5
        seen += [item["event_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [seeded.id(i) for i in (4, 3, 2, 1, 0)]


async def test_list_rejects_bad_filters_by_name(seeded: Seeded) -> None:
    for params, field in (
        ({"status": "closed"}, "status"),
        ({"severity": "huge"}, "severity"),
        ({"since": "yesterday"}, "since"),
        ({"cursor": "nonsense"}, "cursor"),
        ({"limit": 0}, "limit"),
    ):
        problem = is_problem(await seeded.client.get("/cep/events", params=params), 422)
        assert [field] in [e["loc"] for e in problem["errors"]], (params, problem)


async def test_detail_has_the_contract_shape(seeded: Seeded) -> None:
    event = (await seeded.client.get(f"/cep/events/{seeded.id(0)}")).json()
    contract = {
        "event_id", "rule_id", "rule_name", "tenant", "trigger_type", "severity", "status", "fired_at", "last_seen",
        "resolved_at", "count", "group_key", "summary", "payload", "explanation", "notifications", "history",
        "acked_by", "acked_at",
    }  # fmt: skip
    assert contract <= set(event)
    assert (event["status"], event["resolved_at"], event["group_key"]) == (
        "resolved",
        "2025-03-01T12:09:00Z",
        "host=h0",
    )
    notification = event["notifications"][0]
    assert set(notification) >= {"channel", "channel_id", "type", "status", "attempts", "last_error",
                                 "last_attempt_at", "attempt_log"}  # fmt: skip
    assert isinstance(notification["attempts"], int)


async def test_another_tenant_sees_nothing(gateway: LiveGateway, seeded: Seeded) -> None:
    other = gateway.token(new_tenant(), "editor")
    async with httpx.AsyncClient(base_url=gateway.url, headers=other) as client:
        is_problem(await client.get(f"/cep/events/{seeded.id(0)}"), 404)
        is_problem(await client.post(f"/cep/events/{seeded.id(0)}/ack", json={}), 404)
        is_problem(await client.post(f"/cep/events/{seeded.id(0)}/feedback", json={"label": "true_positive"}), 404)
        assert (await client.get("/cep/events")).json() == {"items": [], "total": 0, "next_cursor": None}
    is_problem(await seeded.client.get("/cep/events/not-an-id"), 404)


async def test_ack_records_who_when_and_why_once(seeded: Seeded, js: JetStreamContext) -> None:
    url = f"/cep/events/{seeded.id(4)}/ack"
    is_problem(await seeded.client.post(url, headers=seeded.viewer, json={"note": "x"}), 403)
    before = await feed_count(js, seeded.tenant)
    first = await seeded.client.post(url, json={"note": "on it"})
    assert first.status_code == 200, first.text
    event = first.json()
    assert (event["status"], event["acked_by"]) == ("acked", "alice")
    assert event["history"][-1]["status"] == "acked"
    assert (event["history"][-1]["actor"], event["history"][-1]["note"]) == ("alice", "on it")
    second = await seeded.client.post(url)  # no body at all is fine too
    assert second.status_code == 200
    assert second.json() == event  # a no-op: same acked_at, no second history entry
    assert await feed_count(js, seeded.tenant) == before + 1  # one `acked` message
    # and one ACK notice for the notifier (incident channels are told), carrying the event as acked
    notice = await js.get_last_msg(subjects.ALERTS_STREAM, subjects.acks_subject(seeded.tenant))
    assert notice.headers is not None and notice.headers[subjects.MSG_ID] == f"ack:{seeded.id(4)}"
    # (the notice carries the stored event; `silenced_by`/`inhibited_by` are the API's query-time view)
    stored = {k: v for k, v in event.items() if k not in ("silenced_by", "inhibited_by")}
    assert codec.loads(notice.data) == {"type": "acked", "event": stored}
    assert (await seeded.client.get(f"/cep/events/{seeded.id(4)}")).json() == event
    assert await seeded.ids(status="acked") == [seeded.id(4)]
    audit = (await seeded.client.get("/cep/audit", params={"resource": "event"})).json()["items"]
    assert [(a["action"], a["resource_id"]) for a in audit] == [("ack", seeded.id(4))]


async def test_ack_body_is_validated(seeded: Seeded) -> None:
    url = f"/cep/events/{seeded.id(4)}/ack"
    is_problem(await seeded.client.post(url, json={"note": 5}), 422)
    is_problem(await seeded.client.post(url, json={"nope": "x"}), 422)
    is_problem(await seeded.client.post(url, content=b"{oops", headers={"Content-Type": "application/json"}), 400)


async def test_feedback_is_validated_and_stored(seeded: Seeded) -> None:
    url = f"/cep/events/{seeded.id(2)}/feedback"
    for body in ({"label": "maybe"}, {}, {"label": None}):
        problem = is_problem(await seeded.client.post(url, json=body), 422)
        assert ["label"] in [e["loc"] for e in problem["errors"]], problem
    is_problem(await seeded.client.post(url, headers=seeded.viewer, json={"label": "true_positive"}), 403)
    response = await seeded.client.post(url, json={"label": "false_positive", "note": "maintenance"})
    assert response.status_code == 200, response.text
    feedback = response.json()["feedback"]
    assert (feedback["label"], feedback["note"], feedback["by"]) == ("false_positive", "maintenance", "alice")
    assert (await seeded.client.get(f"/cep/events/{seeded.id(2)}")).json()["feedback"]["label"] == "false_positive"
