"""Stats routes over real recorded events (SQLite and PostgreSQL): every figure, and the event list behind each one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from nats.js.client import JetStreamContext

from services.common.domain.events.model import parse_time
from services.gateway.stats_report import utc_days
from tests.gateway.conftest import is_problem
from tests.gateway.live_gateway import (
    T0,
    Episode,
    LiveGateway,
    drop_stale_results,
    new_tenant,
    publish_alert,
    publish_result,
    recorder_idle,
    result_for,
    start_gateway,
)
from tests.support.waiting import eventually_async

D1, D2 = T0.replace(hour=0), T0.replace(hour=0) + timedelta(days=1)  # 2025-03-01 and 2025-03-02 (UTC)
RANGE = {"since": "2025-03-01T00:00:00Z", "until": "2025-03-02T23:59:59Z"}


@pytest.fixture
def gateway(tmp_path: Path, database_url: str) -> Iterator[LiveGateway]:
    live = start_gateway(tmp_path, database_url)
    yield live
    live.stop()


class Week:
    """Six events of three rules over two days, with deliveries, feedback, ACKs and resolutions.

    rule-a (metric): a0 D1 10:00 resolved after 5 min, a1 D1 11:00 delivery failed + false positive + acked,
    a2 D2 09:00 sent + acked. rule-b (anomaly): b0 D1 12:00 true positive, resolved after 10 min; b1 D2 10:00
    failed + false positive. rule-c (schedule): c0 D2 11:00. Deliveries go to the channel `ops-hook`.
    """

    def __init__(self, gateway: LiveGateway) -> None:
        self.tenant = new_tenant()
        self.editor = gateway.token(self.tenant, "editor", name="alice")
        self.viewer = gateway.token(self.tenant, "viewer")
        self.client = httpx.AsyncClient(base_url=gateway.url, headers=self.viewer, timeout=10)
        at = {"a0": D1 + timedelta(hours=10), "a1": D1 + timedelta(hours=11), "a2": D2 + timedelta(hours=9)}
        at |= {"b0": D1 + timedelta(hours=12), "b1": D2 + timedelta(hours=10), "c0": D2 + timedelta(hours=11)}
        kinds = {"a": "metric", "b": "anomaly", "c": "schedule"}
        self.episodes = {
            name: Episode(self.tenant, rule_id=f"rule-{name[0]}", group_key=name, started_at=when,
                          trigger_type=kinds[name[0]])
            for name, when in at.items()
        }  # fmt: skip
        self.acked: dict[str, dict[str, Any]] = {}
        self.channel_id = ""

    def id(self, name: str) -> str:
        return self.episodes[name].event_id

    async def publish(self, js: JetStreamContext) -> None:
        await drop_stale_results(js)
        async with httpx.AsyncClient(base_url=self.client.base_url, headers=self.editor, timeout=10) as editor:
            channel = {"name": "ops-hook", "type": "webhook", "config": {"url": "http://127.0.0.1:9/hook"}}
            created = await editor.post("/cep/channels", json=channel)
            assert created.status_code == 201, created.text
            self.channel_id = created.json()["channel_id"]
            for episode in self.episodes.values():  # no actions: no notifier of the session picks these up
                await publish_alert(js, episode.transition("fired"), actions=[])
            for name, minutes in (("a0", 5), ("b0", 10)):
                episode = self.episodes[name]
                resolved = episode.transition("resolved", at=episode.started_at + timedelta(minutes=minutes))
                await publish_alert(js, resolved, actions=[])
            await eventually_async(lambda: self._total(6))
            for name, status in (("a0", "sent"), ("a1", "failed"), ("a2", "sent"), ("b1", "failed")):
                fired = self.episodes[name].transition("fired")
                result = replace(result_for(fired, 1, status, final=True), channel_id=self.channel_id)
                await publish_result(js, result)
            await eventually_async(lambda: recorder_idle(js))
            for name, label in (("a1", "false_positive"), ("b0", "true_positive"), ("b1", "false_positive")):
                answer = await editor.post(f"/cep/events/{self.id(name)}/feedback", json={"label": label})
                assert answer.status_code == 200, answer.text
            for name in ("a1", "a2"):
                answer = await editor.post(f"/cep/events/{self.id(name)}/ack", json={"note": "seen"})
                assert answer.status_code == 200, answer.text
                self.acked[name] = answer.json()

    async def _total(self, count: int) -> bool:
        return (await self.client.get("/cep/events")).json()["total"] == count

    async def stats(self, which: str, **params: Any) -> dict[str, Any]:
        response = await self.client.get(f"/cep/stats/{which}", params={**RANGE, **params})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def listed(self, figure: dict[str, Any]) -> list[str]:
        """The events a figure's `href` lists (every page), after checking that `query` says the same."""
        separator = "&" if "?" in figure["href"] else "?"
        response = await self.client.get(f"{figure['href']}{separator}limit=1000")  # as a browser follows it
        assert response.status_code == 200, (figure, response.text)
        assert (await self.client.get("/cep/events", params={**figure["query"], "limit": 1000})).json() == (
            response.json()
        )
        return [item["event_id"] for item in response.json()["items"]]


@pytest.fixture
async def week(gateway: LiveGateway, js: JetStreamContext) -> AsyncIterator[Week]:
    data = Week(gateway)
    await data.publish(js)
    # another tenant's events never count
    other = Episode(new_tenant(), rule_id="rule-a", started_at=D1 + timedelta(hours=10), trigger_type="anomaly")
    await publish_alert(js, other.transition("fired"), actions=[])
    yield data
    await data.client.aclose()


def _ids(week: Week, *names: str) -> set[str]:
    return {week.id(n) for n in names}


async def test_daily_figures_and_the_events_behind_each(week: Week) -> None:
    daily = await week.stats("daily")
    assert (daily["since"], daily["until"]) == ("2025-03-01T00:00:00Z", "2025-03-02T23:59:59Z")
    days = {d["day"]: d for d in daily["days"]}
    assert list(days) == ["2025-03-01", "2025-03-02"]
    assert set(await week.listed(days["2025-03-01"]["events"])) == _ids(week, "a0", "a1", "b0")
    assert set(await week.listed(days["2025-03-02"]["events"])) == _ids(week, "a2", "b1", "c0")
    assert days["2025-03-01"]["events"]["value"] == days["2025-03-01"]["events"]["events"] == 3
    assert [days[d]["failed_notifications"]["value"] for d in days] == [1, 1]
    assert await week.listed(days["2025-03-02"]["failed_notifications"]) == [week.id("b1")]

    assert daily["events"]["value"] == 6 and len(await week.listed(daily["events"])) == 6
    failed = daily["failed_notifications"]
    assert (failed["value"], failed["events"]) == (2, 2)
    assert set(await week.listed(failed)) == _ids(week, "a1", "b1")

    backlog = daily["ack_backlog"]  # open: not acked, not resolved
    assert backlog["value"] == 2 and set(await week.listed(backlog)) == _ids(week, "b1", "c0")
    assert backlog["oldest_fired_at"] == "2025-03-02T10:00:00Z"

    precision = daily["anomaly_precision"]  # rule-b: one true, one false positive; rule-a's label is no anomaly
    assert (precision["value"], precision["true_positive"], precision["false_positive"]) == (0.5, 1, 1)
    assert set(await week.listed(precision)) == _ids(week, "b0", "b1")
    assert [(r["rule_id"], r["rule_name"], r["value"]) for r in precision["rules"]] == [("rule-b", "rule-b-name", 0.5)]

    scheduler = daily["scheduler"]
    assert await week.listed(scheduler["schedule_events"]) == [week.id("c0")]
    assert (scheduler["runs"], scheduler["missed_runs"]) == (0, 0)
    assert not scheduler["healthy"] and "no scheduler leader" in scheduler["reasons"]  # no scheduler runs here
    runs = await week.client.get(scheduler["missed_href"])
    assert runs.status_code == 200 and runs.json()["total"] == 0


async def test_weekly_figures_and_the_events_behind_each(week: Week) -> None:
    weekly = await week.stats("weekly")
    firings = weekly["top_rules_by_firings"]
    assert [(r["rule_id"], r["value"]) for r in firings] == [("rule-a", 3), ("rule-b", 2), ("rule-c", 1)]
    assert set(await week.listed(firings[0])) == _ids(week, "a0", "a1", "a2")
    assert [r["rule_id"] for r in (await week.stats("weekly", top=1))["top_rules_by_firings"]] == ["rule-a"]

    false_positives = weekly["top_rules_by_false_positives"]
    assert [(r["rule_id"], r["value"]) for r in false_positives] == [("rule-a", 1), ("rule-b", 1)]
    assert await week.listed(false_positives[1]) == [week.id("b1")]

    [channel] = weekly["channel_failure_rates"]
    assert (channel["name"], channel["channel_id"], channel["sent"], channel["failed"]) == (
        "ops-hook",
        week.channel_id,
        2,
        2,
    )
    assert channel["value"] == 0.5 and set(await week.listed(channel)) == _ids(week, "a1", "b1")

    recover = weekly["mean_time_to_recover"]  # a0 after 5 min, b0 after 10 min
    assert (recover["value"], recover["events"]) == (450.0, 2)
    assert set(await week.listed(recover)) == _ids(week, "a0", "b0")
    acknowledge = weekly["mean_time_to_acknowledge"]
    spans = [(parse_time(e["acked_at"]) - parse_time(e["fired_at"])).total_seconds() for e in week.acked.values()]
    assert acknowledge["value"] == pytest.approx(sum(spans) / len(spans), abs=0.01)
    assert set(await week.listed(acknowledge)) == _ids(week, "a1", "a2")


async def test_event_list_filters_the_figures_use(week: Week) -> None:
    async def ids(**params: Any) -> set[str]:
        response = await week.client.get("/cep/events", params=params)
        assert response.status_code == 200, response.text
        return {item["event_id"] for item in response.json()["items"]}

    assert await ids(trigger_type="anomaly") == _ids(week, "b0", "b1")
    assert await ids(acked="true") == _ids(week, "a1", "a2")
    assert await ids(acked="false", status="open") == _ids(week, "b1", "c0")
    assert await ids(feedback="false_positive") == _ids(week, "a1", "b1")
    assert await ids(feedback="none") == _ids(week, "a0", "a2", "c0")
    assert await ids(notification_status="sent") == _ids(week, "a0", "a2")
    assert await ids(channel="ops-hook") == await ids(channel=week.channel_id) == _ids(week, "a0", "a1", "a2", "b1")
    assert await ids(channel="elsewhere") == set()
    for params, field in (({"acked": "maybe"}, "acked"), ({"notification_status": "lost"}, "notification_status")):
        problem = is_problem(await week.client.get("/cep/events", params=params), 422)
        assert [field] in [e["loc"] for e in problem["errors"]]


async def test_stats_check_their_range_and_need_a_token(gateway: LiveGateway) -> None:
    viewer = gateway.token(new_tenant(), "viewer")
    async with httpx.AsyncClient(base_url=gateway.url, headers=viewer, timeout=10) as client:
        for which in ("daily", "weekly"):
            backwards = {"since": "2025-03-02T00:00:00Z", "until": "2025-03-01T00:00:00Z"}
            for params, field in (
                (backwards, "since"),
                ({"since": "2020-01-01T00:00:00Z", "until": "2025-01-01T00:00:00Z"}, "since"),
                ({"until": "soon"}, "until"),
            ):
                problem = is_problem(await client.get(f"/cep/stats/{which}", params=params), 422)
                assert [field] in [e["loc"] for e in problem["errors"]], (which, params)
            is_problem(await client.get(f"/cep/stats/{which}", headers={"Authorization": "Bearer nope"}), 401)
        default = (await client.get("/cep/stats/daily")).json()
        assert len(default["days"]) == 7 and default["days"][-1]["day"] == default["until"][:10]
        assert all(d["events"]["value"] == 0 for d in default["days"])
        weekly = (await client.get("/cep/stats/weekly")).json()
        span = parse_time(weekly["until"]) - parse_time(weekly["since"])
        assert span == timedelta(days=7) and weekly["top_rules_by_firings"] == []
        assert is_problem(await client.get("/cep/stats/weekly", params={"top": 0}), 422)["errors"][0]["loc"] == ["top"]
        past = (await client.get("/cep/stats/daily", params={"until": "2025-03-02T12:00:00Z"})).json()
        assert [d["day"] for d in past["days"]][::6] == ["2025-02-24", "2025-03-02"]  # 7 days up to `until`
        past = (await client.get("/cep/stats/weekly", params={"until": "2025-03-02T12:00:00Z"})).json()
        assert (past["since"], past["until"]) == ("2025-02-23T12:00:00Z", "2025-03-02T12:00:00Z")


def test_stats_routes_are_in_the_openapi_document(client: Any) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path, model in (("/cep/stats/daily", "DailyStats"), ("/cep/stats/weekly", "WeeklyStats")):
        schema = paths[path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert schema["$ref"].endswith(f"/{model}")


@pytest.mark.parametrize(
    ("since", "until", "days"),
    [
        ("2025-03-01T10:00:00Z", "2025-03-01T11:00:00Z", [("2025-03-01", "10:00:00", "11:00:00")]),
        (
            "2025-03-01T23:30:00Z",
            "2025-03-02T00:10:00Z",
            [("2025-03-01", "23:30:00", "23:59:59.999999"), ("2025-03-02", "00:00:00", "00:10:00")],
        ),
        ("2025-03-01T00:00:00Z", "2025-03-01T00:00:00Z", [("2025-03-01", "00:00:00", "00:00:00")]),
    ],
)
def test_days_are_utc_days_clipped_to_the_range(since: str, until: str, days: list[tuple[str, str, str]]) -> None:
    found = utc_days(parse_time(since), parse_time(until))
    assert [(d, first.time().isoformat(), last.time().isoformat()) for d, first, last in found] == days
