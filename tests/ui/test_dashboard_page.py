"""The operations dashboard in the browser: figures from the stats routes, and the click-through to their events."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.gateway.live_gateway import Episode, LiveGateway, result_for
from tests.support.nats import NatsServer
from tests.ui.conftest import ARTIFACTS, LAPTOP, sign_in
from tests.ui.recorded import publish, tenant_of, wait_listed

pytestmark = pytest.mark.ui


def test_figures_link_to_the_events_behind_them(
    page: Page, gateway: LiveGateway, token: str, api: httpx.Client, nats_server: NatsServer
) -> None:
    tenant = tenant_of(api)
    now = datetime.now(UTC).replace(microsecond=0)
    disk = [Episode(tenant, rule_id="disk-full", group_key=f"host=h{i}", started_at=now - timedelta(hours=i + 1))
            for i in range(3)]  # fmt: skip
    cpu = Episode(tenant, rule_id="cpu-high", started_at=now - timedelta(minutes=30))
    failed = replace(result_for(disk[1].transition("fired"), 1, "failed", error="HTTP 500", final=True), at=now)
    sent = replace(result_for(cpu.transition("fired"), 1, "sent", final=True), at=now)
    publish(nats_server.url, [e.transition("fired") for e in [*disk, cpu]], [failed, sent])
    wait_listed(api, 1, notification_status="failed")
    wait_listed(api, 1, notification_status="sent")

    sign_in(page, gateway, token, "/cep-dashboard")
    expect(page.locator("#fig-events .figure-value")).to_have_text("4")
    expect(page.locator("#fig-failed .figure-value")).to_have_text("1")
    expect(page.locator("#fig-backlog .figure-value")).to_have_text("4")
    expect(page.locator("#top-firings li").first).to_contain_text("disk-full-name")
    expect(page.locator("#top-firings li").first).to_contain_text("3 events")
    expect(page.locator("#channel-rates tbody tr")).to_contain_text("50 %")
    expect(page.locator("#daily-chart svg a")).to_have_count(14)  # 7 days x (events, failed notifications)
    page.set_viewport_size(LAPTOP)
    page.screenshot(path=str(ARTIFACTS / "dashboard-laptop.png"), full_page=True)

    # The figure is a link: it opens /cep-events listing exactly the event with the failed delivery.
    page.locator("#fig-failed .figure-value").click()
    expect(page).to_have_url(re.compile(r"/cep-events\?.*notification_status=failed"))
    expect(page.locator("#extra-filters")).to_contain_text("notification_status = failed")
    rows = page.locator("#event-list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-id", disk[1].event_id)
    expect(rows.first).to_contain_text("failed 1")
    expect(page.locator("#event-count")).to_have_text("1 event")

    # A rule of the top list opens that rule's events.
    page.go_back()
    page.locator("#top-firings li a").first.click()
    expect(page.locator("#event-list tbody tr")).to_have_count(3)
    expect(page.locator("#f-rule")).to_have_value("disk-full")
