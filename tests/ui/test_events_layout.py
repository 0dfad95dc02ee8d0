"""The events page at laptop width (1024x768) with real, wordy events: nothing scrolls sideways.

Long rule names, summaries, group keys, payloads and delivery errors must wrap or be cut with an ellipsis in the
list, and the detail panel stacks under the list instead of squeezing it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import FloatRect, Page, expect

from services.common.domain.lifecycle.transitions import Transition
from services.common.messages.delivery import DeliveryResult
from tests.gateway.live_gateway import Episode, LiveGateway, result_for
from tests.support.nats import NatsServer
from tests.ui.conftest import ARTIFACTS, DESKTOP, LAPTOP, sign_in
from tests.ui.recorded import publish, tenant_of, wait_listed

pytestmark = pytest.mark.ui

LONG = "checkout-payment-authorisation-latency-p99-over-budget-in-the-eu-west-region"
SUMMARY = "p99 latency of payment authorisation above 2500 ms for 5 minutes " * 3
ERROR = "HTTP 503 from https://hooks.example.internal/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXXXXXX " * 2

OVERFLOW = """() => {
  const root = document.documentElement;
  const list = document.querySelector("#event-list").closest(".table-scroll") || document.querySelector("#event-list");
  const detail = document.querySelector("#event-detail");
  return {
    page: [root.scrollWidth, root.clientWidth],
    list: [list.scrollWidth, list.clientWidth],
    detail: [detail.scrollWidth, detail.clientWidth],
  };
}"""


def _wordy_events(tenant: str) -> tuple[list[Transition], list[DeliveryResult]]:
    now = datetime.now(UTC).replace(microsecond=0)
    episodes = [
        Episode(tenant, rule_id=f"{LONG}-{i}", group_key=f"service={LONG},host=ip-10-0-{i}-17.eu-west-1.compute",
                started_at=now - timedelta(minutes=i + 1), severity="critical")
        for i in range(4)
    ]  # fmt: skip
    fired = [
        replace(e.transition("fired"), summary=SUMMARY, payload={"endpoint": f"/v2/{LONG}/{LONG}", "p99_ms": 2731})
        for e in episodes
    ]
    results = [replace(result_for(t, 1, "failed", error=ERROR, final=True), at=now) for t in fired]
    return fired, results


def _open_a_wordy_event(
    page: Page, gateway: LiveGateway, token: str, api: httpx.Client, nats_url: str, viewport: dict[str, int]
) -> tuple[FloatRect, FloatRect]:
    """Record the wordy events, open the first one at `viewport`; no part scrolls sideways. The boxes of the list
    and of the detail panel."""
    fired, results = _wordy_events(tenant_of(api))
    publish(nats_url, fired, results)
    wait_listed(api, len(fired), notification_status="failed")
    page.set_viewport_size(viewport)
    sign_in(page, gateway, token, "/cep-events")
    rows = page.locator("#event-list tbody tr")
    expect(rows).to_have_count(len(fired))
    rows.first.get_by_role("button").click()
    expect(page.locator("#notification-table")).to_contain_text("HTTP 503")
    page.screenshot(path=str(ARTIFACTS / f"events-{viewport['width']}.png"), full_page=True)
    widths = page.evaluate(OVERFLOW)
    for part, (scroll, client) in widths.items():
        assert scroll <= client, f"the {part} scrolls sideways at {viewport['width']}px: {scroll}px in {client}px"
    listed = page.locator("#event-list").bounding_box()
    shown = page.locator("#event-detail").bounding_box()
    assert listed is not None and shown is not None
    return listed, shown


def test_the_events_page_fits_a_laptop_screen_with_the_detail_open(
    page: Page, gateway: LiveGateway, token: str, api: httpx.Client, nats_server: NatsServer
) -> None:
    listed, shown = _open_a_wordy_event(page, gateway, token, api, nats_server.url, LAPTOP)
    assert shown["y"] >= listed["y"] + listed["height"], "the detail panel should stack under the list"
    # A cut cell still says what it holds: the whole text is its tooltip.
    summary = page.locator("#event-list tbody tr td.col-summary").first
    expect(summary).to_have_attribute("title", SUMMARY)


@pytest.mark.slow  # the same wordy event at desktop width; the laptop test above keeps the layout in `make test`
def test_side_by_side_on_a_desktop_screen(
    page: Page, gateway: LiveGateway, token: str, api: httpx.Client, nats_server: NatsServer
) -> None:
    listed, shown = _open_a_wordy_event(page, gateway, token, api, nats_server.url, DESKTOP)
    assert shown["x"] >= listed["x"] + listed["width"], "the detail panel should stand beside the list"
