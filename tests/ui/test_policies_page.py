"""The Policies page in the browser: an editor saves a policy from the JSON editor (a bad one names the field),
sees it as a tree, and tests a label set: receivers and timings out, muted by a time interval or not."""

from __future__ import annotations

import json

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.gateway.live_gateway import LiveGateway
from tests.ui.conftest import sign_in

pytestmark = pytest.mark.ui

POLICY = {
    "route": {
        "receiver": "ops",
        "group_by": ["alertname"],
        "routes": [
            {"matchers": ['team="db"'], "receiver": "db", "continue": True, "mute_time_intervals": ["weekends"]},
            {"match": {"severity": "page"}, "receiver": "ops", "group_wait": "10s"},
        ],
    },
    "receivers": [{"name": "ops", "channels": ["ops-hook"]}, {"name": "db", "channels": []}],
    "time_intervals": [{"name": "weekends", "time_intervals": [{"weekdays": ["saturday", "sunday"]}]}],
}


def test_an_editor_saves_a_policy_and_tests_labels(
    page: Page, gateway: LiveGateway, token: str, api: httpx.Client
) -> None:
    api.post("/cep/channels", json={"name": "ops-hook", "type": "webhook", "config": {"url": "http://127.0.0.1:9/h"}})
    sign_in(page, gateway, token, "/cep-policies")
    expect(page.locator("#policy-state")).to_have_text("none")

    bad = json.loads(json.dumps(POLICY))
    bad["route"]["routes"][0]["receiver"] = "nobody"
    page.get_by_label("Policy document (route, receivers, time_intervals)").fill(json.dumps(bad))
    page.get_by_role("button", name="Save policy").click()
    expect(page.locator("#policy-problem")).to_contain_text("route.routes.0.receiver: undefined receiver 'nobody'")

    page.get_by_label("Policy document (route, receivers, time_intervals)").fill(json.dumps(POLICY))
    page.get_by_role("button", name="Save policy").click()
    expect(page.locator("#policy-state")).to_contain_text("version 1")
    expect(page.locator("#policy-state")).to_contain_text("saved")
    expect(page.locator('#policy-tree li[data-path="0"]')).to_contain_text('{team="db"} → db')
    expect(page.locator('#policy-tree li[data-path="1"]')).to_contain_text("group_wait: 10s")
    assert api.get("/cep/notification-policies").json()["route"] == POLICY["route"]

    page.get_by_label("Label 1 name").fill("team")
    page.get_by_label("Label 1 value").fill("db")
    page.get_by_role("button", name="Add label").click()
    page.get_by_label("Label 2 name").fill("severity")
    page.get_by_label("Label 2 value").fill("page")
    page.get_by_label("At (RFC 3339, empty: now)").fill("2026-12-05T12:00:00Z")  # a Saturday
    page.get_by_role("button", name="Test labels").click()
    expect(page.locator("#tester-line")).to_have_text("Receivers: db,ops")
    rows = page.locator("#tester-routes tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("muted: inside a mute time interval (weekends)")
    expect(rows.nth(1)).to_contain_text("ops-hook")
    expect(rows.nth(1)).to_contain_text("10s / 5m / 4h")
