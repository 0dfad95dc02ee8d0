"""Every UI page: each form control has a label, and the builder's editors work with the keyboard alone."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from services.gateway.ui.pages import PAGES
from tests.gateway.live_gateway import LiveGateway
from tests.ui.conftest import sign_in

pytestmark = pytest.mark.ui

# The controls of a page that no label names (a <label for>, a wrapping <label>, aria-label or aria-labelledby).
UNLABELLED = """() => [...document.querySelectorAll("input, select, textarea")]
  .filter((c) => c.type !== "hidden" && !c.labels?.length && !c.getAttribute("aria-label")
                 && !c.getAttribute("aria-labelledby"))
  .map((c) => c.outerHTML)"""


def test_every_control_has_a_label(page: Page, gateway: LiveGateway, token: str) -> None:
    sign_in(page, gateway, token)
    unlabelled = {}
    for listed in PAGES:
        page.goto(f"{gateway.url}{listed.path}")
        expect(page.locator("#whoami")).to_contain_text(" · ")  # the page has fetched its data
        page.wait_for_timeout(300)  # and rendered it
        unlabelled[listed.path] = page.evaluate(UNLABELLED)
    assert unlabelled == {listed.path: [] for listed in PAGES}


def test_conditions_and_actions_with_the_keyboard(page: Page, gateway: LiveGateway, token: str) -> None:
    sign_in(page, gateway, token)
    page.get_by_label("Name", exact=True).focus()
    page.keyboard.type("kbd_rule")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Description")).to_be_focused()
    page.get_by_label("Metric name").fill("cpu_usage")
    page.get_by_label("Threshold").fill("85")
    page.get_by_role("button", name="Add condition").focus()
    page.keyboard.press("Enter")  # the new row's field takes the focus
    page.keyboard.type("host")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")  # past the operator (==) to the value
    page.keyboard.type("gt-01")
    page.get_by_role("button", name="Add action").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_label("Action 1 type")).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.type("slack-ops")
    expect(page.locator("#summary")).to_have_text("cpu_usage > 85 when (host == 'gt-01')")
    page.get_by_label("Name", exact=True).press("Enter")  # Enter in a field saves the form
    expect(page.locator("#editor-heading")).to_have_text("Edit rule: kbd_rule (v1)")
