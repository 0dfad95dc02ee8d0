"""Lab 1 in the browser: the CPU rule built in the form, previewed, saved as a draft, simulated, activated."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.gateway.conftest import ADMIN
from tests.gateway.live_gateway import LiveGateway
from tests.ui.conftest import ARTIFACTS, LAPTOP, sign_in

pytestmark = pytest.mark.ui

LAB1_PAYLOAD = '{"cpu_usage": 92, "host": "gt-01", "severity": "high"}'


def fill_lab1_rule(page: Page) -> None:
    """Steps 1-3 of Lab 1: basic information, the metric trigger, one notify action."""
    page.get_by_label("Name", exact=True).fill("cpu_high_alert")
    page.get_by_label("Description").fill("CPU > 85 for 5m")
    expect(page.get_by_label("Active when saved")).not_to_be_checked()  # Active OFF
    page.get_by_label("Trigger type").select_option("metric")
    page.get_by_label("Metric name").fill("cpu_usage")
    page.get_by_label("Operator", exact=True).select_option(">")
    page.get_by_label("Threshold").fill("85")
    page.get_by_label("Duration (for)").fill("5m")
    page.get_by_role("button", name="Add action").click()
    page.get_by_label("Action 1 type").select_option("notify")
    page.get_by_label("Action 1 channel").fill("slack-ops")
    page.get_by_label("Action 1 message").fill("CPU threshold exceeded")


def test_lab1_create_preview_simulate_activate(page: Page, gateway: LiveGateway, token: str, api: httpx.Client) -> None:
    created = api.post(
        "/cep/channels",
        json={"name": "slack-ops", "type": "slack", "config": {"webhook_url": "http://127.0.0.1:9/hook"}},
    )
    assert created.status_code == 201, created.text
    sign_in(page, gateway, token)
    expect(page.locator("#rule-count")).to_have_text("0 rules")
    fill_lab1_rule(page)
    # Step 2: the condition as intended, in words; step 3: no missing-required-field warning.
    expect(page.locator("#summary")).to_have_text("cpu_usage > 85 for 5m")
    expect(page.locator("#no-warnings")).to_be_visible()
    expect(page.locator("#warnings li")).to_have_count(0)
    assert page.locator("#channel-names option[value='slack-ops']").count() == 1  # the channel picker
    # Step 1: saved inactive, a Draft in the list.
    page.get_by_role("button", name="Save rule").click()
    row = page.locator("#rule-list tbody tr", has_text="cpu_high_alert")
    expect(row).to_contain_text("Draft")
    expect(row).to_contain_text("metric")
    expect(row).to_contain_text("never")
    expect(page.locator("#editor-heading")).to_have_text("Edit rule: cpu_high_alert (v1)")
    # Step 4: simulate the Lab 1 payload: match = true, the truth table and the action that would run.
    page.get_by_label("Payload (JSON object, or a list of them)").fill(LAB1_PAYLOAD)
    page.get_by_role("button", name="Simulate").click()
    expect(page.locator("#sim-match")).to_have_text("match = true")
    truth = page.locator("#truth-table tbody tr").first
    expect(truth).to_contain_text("cpu_usage > 85")
    expect(truth).to_contain_text("true")
    expect(truth).to_contain_text("92")
    expect(page.locator("#sim-actions tbody tr")).to_have_text(["notifyslack-opsCPU threshold exceeded"])
    # Step 5: activate with the switch.
    page.get_by_role("switch", name="Active").check()
    expect(page.locator("#rule-state")).to_have_text("Activated · Active")
    expect(row).to_contain_text("Active")
    stored = api.get("/cep/rules").json()["items"]
    assert [(r["name"], r["active"], r["version"]) for r in stored] == [("cpu_high_alert", True, 2)]
    simulations = api.get(f"/cep/rules/{stored[0]['rule_id']}/simulations").json()
    assert simulations["count"] == 1  # the saved rule was simulated (its simulation record counts it)


def test_builder_fits_a_laptop_screen(page: Page, gateway: LiveGateway, token: str) -> None:
    page.set_viewport_size(LAPTOP)
    sign_in(page, gateway, token)
    fill_lab1_rule(page)
    expect(page.locator("#summary")).to_have_text("cpu_usage > 85 for 5m")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= LAPTOP["width"], f"the page scrolls sideways at {LAPTOP['width']}px: {width}px wide"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "builder-1024.png"), full_page=True)


def test_required_fields_are_flagged_before_saving(page: Page, gateway: LiveGateway, token: str) -> None:
    sign_in(page, gateway, token)
    page.get_by_label("Name", exact=True).fill("half_done")
    page.get_by_label("Metric name").fill("cpu_usage")
    expect(page.locator("#warnings li.error")).to_contain_text(["trigger_spec.threshold"])
    expect(page.get_by_label("Threshold")).to_have_attribute("aria-invalid", "true")
    page.get_by_role("button", name="Save rule").click()
    alert = page.locator("#editor-problem")
    expect(alert).to_contain_text("Fix the form first")
    expect(alert).to_contain_text("trigger_spec.threshold")
    expect(page.locator("#rule-count")).to_have_text("0 rules")


def test_a_policy_refusal_is_shown_until_the_rule_was_simulated_enough(
    page: Page, gateway: LiveGateway, token: str, api: httpx.Client
) -> None:
    tenant = api.get("/cep/auth/whoami").json()["tenant"]
    minted = httpx.post(
        f"{gateway.url}/cep/auth/tokens", headers=ADMIN, json={"tenant": tenant, "role": "admin", "name": "lead"}
    )
    admin = {"Authorization": f"Bearer {minted.json()['token']}"}
    policies = {"policies": {"min_simulations_before_activation": 2}}
    assert httpx.patch(f"{gateway.url}/cep/settings", headers=admin, json=policies).status_code == 200
    sign_in(page, gateway, token)
    fill_lab1_rule(page)
    page.get_by_role("button", name="Save rule").click()
    expect(page.locator("#editor-heading")).to_have_text("Edit rule: cpu_high_alert (v1)")
    switch = page.get_by_role("switch", name="Active")
    switch.click()  # not check(): the refused switch flips back at once
    alert = page.locator("#editor-problem")
    expect(alert).to_contain_text("Activation refused (409)")
    expect(alert).to_contain_text("min_simulations_before_activation: 0 of 2")
    expect(switch).not_to_be_checked()
    for _ in range(2):
        page.get_by_role("button", name="Simulate").click()
        expect(page.locator("#sim-match")).to_have_text("match = true")
    switch.check()
    expect(page.locator("#rule-state")).to_have_text("Activated · Active")
    expect(alert).to_be_hidden()
