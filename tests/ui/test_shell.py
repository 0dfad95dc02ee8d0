"""The UI shell: every page loads with the shared nav, the token is asked for once and shows tenant and role."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from services.gateway.ui.pages import PAGES
from tests.gateway.live_gateway import LiveGateway
from tests.ui.conftest import sign_in

pytestmark = pytest.mark.ui


def test_token_is_asked_once_and_shows_tenant_and_role(page: Page, gateway: LiveGateway, token: str) -> None:
    page.goto(f"{gateway.url}/cep-builder")
    expect(page.locator("#whoami")).to_have_text("not signed in")
    sign_in(page, gateway, token)
    expect(page.locator("#whoami")).to_have_text(re.compile(r"^ui-[0-9a-f]{10} · editor$"))
    for listed in PAGES:  # kept in localStorage: every page knows the caller without asking again
        page.get_by_role("link", name=listed.title, exact=True).click()
        expect(page).to_have_url(f"{gateway.url}{listed.path}")
        expect(page.get_by_role("heading", level=1)).to_have_text(listed.title)
        expect(page.get_by_role("link", name=listed.title, exact=True)).to_have_attribute("aria-current", "page")
        expect(page.locator("#whoami")).to_contain_text("· editor")


def test_a_bad_token_is_reported_as_a_problem(page: Page, gateway: LiveGateway) -> None:
    sign_in(page, gateway, "not-a-token", accepted=False)
    expect(page.locator("#whoami")).to_have_text("token not accepted")
    alert = page.get_by_role("alert").first
    expect(alert).to_contain_text("Unauthorized (401)")
    expect(alert).to_contain_text("enter a valid API token above")
