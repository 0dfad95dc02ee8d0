"""The rule list of /cep-builder: state, trigger, owner, priority and the firing record the recorder keeps."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import nats
import pytest
from playwright.sync_api import Page, expect

from services.common.domain.events.model import Event
from services.common.domain.rules.rule_failures import RuleFailure
from services.evaluator.dead_letters import publish_rule_failures
from tests.gateway.conftest import CPU_RULE
from tests.gateway.live_gateway import Episode, LiveGateway, publish_alert
from tests.support.nats import NatsServer
from tests.ui.conftest import sign_in

pytestmark = pytest.mark.ui


async def _fire(url: str, episodes: list[Episode]) -> None:
    client = await nats.connect(url)
    try:
        for episode in episodes:  # as the evaluator publishes them; no actions: nothing to deliver
            await publish_alert(client.jetstream(), episode.transition("fired"), actions=[])
    finally:
        await client.drain()


def test_list_shows_state_owner_priority_and_firings(
    page: Page, gateway: LiveGateway, token: str, api: httpx.Client, nats_server: NatsServer
) -> None:
    fired = api.post("/cep/rules", json={**CPU_RULE, "owner": "sre-team", "priority": "P2", "active": True}).json()
    api.post("/cep/rules", json={**CPU_RULE, "name": "quiet_rule", "trigger_spec": {**CPU_RULE["trigger_spec"]}})
    tenant = api.get("/cep/auth/whoami").json()["tenant"]
    now = datetime.now(UTC).replace(microsecond=0)
    starts = [now - timedelta(minutes=30), now - timedelta(minutes=3)]
    episodes = [Episode(tenant, fired["rule_id"], started_at=at) for at in starts]
    with ThreadPoolExecutor(1) as thread:  # Playwright's sync API owns this thread's event loop
        thread.submit(asyncio.run, _fire(nats_server.url, episodes)).result(timeout=30)
    for _ in range(200):  # the recorder writes the events asynchronously
        listed = {r["name"]: r for r in api.get("/cep/rules").json()["items"]}
        if listed["cpu_high_alert"]["firing_count"] == 2:
            break
        page.wait_for_timeout(50)
    assert listed["cpu_high_alert"]["last_fired_at"] == starts[1].isoformat().replace("+00:00", "Z")
    assert (listed["quiet_rule"]["firing_count"], listed["quiet_rule"]["last_fired_at"]) == (0, None)

    sign_in(page, gateway, token)
    rows = page.locator("#rule-list tbody tr")
    expect(rows).to_have_count(2)
    cells = [c.strip() for c in rows.nth(0).locator("td").all_inner_texts()]
    assert cells == ["cpu_high_alert", "Active", "metric", "sre-team", "P2", "3 min ago", "2"]
    cells = [c.strip() for c in rows.nth(1).locator("td").all_inner_texts()]
    assert cells == ["quiet_rule", "Draft", "metric", "", "P3", "never", "0"]
    page.get_by_label("Search").fill("quiet")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(page.locator("#rule-count")).to_have_text("1 rule")


async def _fail(url: str, failures: list[RuleFailure]) -> None:
    client = await nats.connect(url)
    try:  # as a shard reports a rule that raised on an event
        assert await publish_rule_failures(client.jetstream(), 0, failures) == len(failures)
    finally:
        await client.drain()


def test_a_rule_that_raised_shows_its_error_count_and_last_error(
    page: Page, gateway: LiveGateway, token: str, api: httpx.Client, nats_server: NatsServer
) -> None:
    rule = api.post("/cep/rules", json={**CPU_RULE, "name": "throwing_rule", "active": True}).json()
    tenant = api.get("/cep/auth/whoami").json()["tenant"]
    at = datetime.now(UTC)
    failures = [
        RuleFailure(rule["rule_id"], tenant, Event(f"ev-{n}", tenant, at, {"cpu_usage": 1e308}), f"OverflowError: {n}")
        for n in range(2)
    ]
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, _fail(nats_server.url, failures)).result(timeout=30)
    for _ in range(200):  # the gateway records dead letters asynchronously
        if api.get(f"/cep/rules/{rule['rule_id']}").json()["error_count"] == 2:
            break
        page.wait_for_timeout(50)
    sign_in(page, gateway, token)
    row = page.locator("#rule-list tbody tr", has_text="throwing_rule")
    badge = row.locator(".rule-errors")
    expect(badge).to_have_text("2 errors")
    assert "OverflowError: 1" in (badge.get_attribute("title") or "")
    expect(page.locator("#rule-list tbody tr", has_text="quiet_rule").locator(".rule-errors")).to_have_count(0)
