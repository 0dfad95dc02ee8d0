"""The Daily Report end to end in components: a schedule run's `daily_report` action reaches a real webhook receiver
with the counts of the tenant's last day, computed by a real gateway from SQL and fetched over the real NATS."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.gateway.app import create_app
from tests.gateway.conftest import mint, settings_for
from tests.gateway.live_gateway import Episode
from tests.notifier.running import RunningNotifier, running_notifier, tenant, transition, webhook
from tests.support.receiver import receiver

UNTIL = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)  # the run's scheduled_at: the report covers the 24 h before it
REPORT = [{"type": "daily_report", "channel": "ops-report"}]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    """A started gateway (SQLite in a temp dir) on the session's nats-server: it records and answers reports."""
    with TestClient(create_app(settings_for(tmp_path))) as test_client:
        yield test_client


@pytest.fixture
def notifier() -> Iterator[RunningNotifier]:
    with running_notifier() as running:
        yield running


def _events(client: TestClient, headers: dict[str, str], count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        items: list[dict[str, Any]] = client.get("/cep/events?limit=100", headers=headers).json()["items"]
        if len(items) >= count:
            return items
        time.sleep(0.05)
    raise AssertionError(f"the gateway recorded {len(items)} of {count} events")


def test_a_daily_report_counts_the_last_day_by_rule_severity_and_status(
    client: TestClient, notifier: RunningNotifier
) -> None:
    name = tenant()
    editor = mint(client, name, "editor")
    hour = timedelta(hours=1)
    episodes = [
        Episode(name, rule_id="cpu", started_at=UNTIL - 20 * hour, severity="critical"),
        Episode(name, rule_id="cpu", started_at=UNTIL - 10 * hour, severity="critical"),
        Episode(name, rule_id="cpu", started_at=UNTIL - 2 * hour, severity="high"),
        Episode(name, rule_id="disk", started_at=UNTIL - 5 * hour, severity="medium"),
        Episode(name, rule_id="old", started_at=UNTIL - 30 * hour, severity="low"),  # before the window
    ]
    for episode in episodes:
        notifier.publish_alert(episode.transition("fired", count=1), [])  # no deliveries: only the record
    notifier.publish_alert(episodes[0].transition("updated", count=4), [])  # absorbed repeats: 4 occurrences
    notifier.publish_alert(episodes[3].transition("resolved", at=UNTIL - 4 * hour), [])
    events = _events(client, editor, 5)
    acked = next(e for e in events if e["fired_at"] == "2025-06-01T22:00:00Z")
    assert client.post(f"/cep/events/{acked['event_id']}/ack", headers=editor, json={"note": "ok"}).status_code == 200

    with receiver() as hook:
        created = client.post(
            "/cep/channels", headers=editor, json={"name": "ops-report", "type": "webhook", "config": {"url": hook.url}}
        )
        assert created.status_code == 201, created.text
        run = transition(
            name,
            rule_id="daily",
            rule_name="daily_report",
            trigger_type="schedule",
            severity="info",
            at=UNTIL,
            started_at=UNTIL,
            last_seen=UNTIL,
            payload={"event_type": "cep.schedule"},
        )
        results = notifier.watch(name)
        notifier.publish_alert(run, REPORT)
        [request] = hook.wait_for(1)
        assert notifier.wait_results(name, final=1)[-1].status == "sent"

    body = request.json()
    report = body["report"]
    assert report["since"] == "2025-06-01T08:00:00Z" and report["until"] == "2025-06-02T08:00:00Z"
    assert report["window"] == "1d" and report["events"] == 4 and report["occurrences"] == 7
    assert report["by_severity"] == {"critical": 2, "high": 1, "medium": 1}
    assert report["by_status"] == {"open": 2, "acked": 1, "resolved": 1}
    assert report["by_rule"] == [
        {"rule_id": "cpu", "rule_name": "cpu-name", "events": 3, "occurrences": 6, "open": 2},
        {"rule_id": "disk", "rule_name": "disk-name", "events": 1, "occurrences": 1, "open": 0},
    ]
    assert report["top_rules"] == [{"rule_name": "cpu-name", "events": 3}, {"rule_name": "disk-name", "events": 1}]
    assert body["message"].splitlines() == [
        f"Daily report of {name}: 2025-06-01T08:00:00Z to 2025-06-02T08:00:00Z (1d)",
        "4 events (7 occurrences)",
        "By status: open 2, acked 1, resolved 1",
        "By severity: critical 2, high 1, medium 1",
        "Top rules: cpu-name 3, disk-name 1",
    ]
    assert len(results) == 1


def test_without_a_gateway_to_ask_the_report_is_retried_then_fails(notifier: RunningNotifier) -> None:
    name = tenant()
    with receiver() as hook:
        notifier.put_channel(webhook(name, hook.url, name="ops-report"))
        notifier.watch(name)
        run = transition(name, trigger_type="schedule", started_at=UNTIL, at=UNTIL, last_seen=UNTIL)
        notifier.publish_alert(run, [{**REPORT[0], "window": "12h"}])
        results = notifier.wait_results(name, final=1)
    assert [r.status for r in results][:2] == ["retrying", "retrying"] and results[-1].status == "failed"
    assert results[-1].error == "network: no gateway answers daily report requests (is it running?)"
    assert hook.requests == []
