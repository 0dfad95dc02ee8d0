"""OIDC sign-in in the browser, through a real OpenID provider (oidc-provider under node) and its own login form:
an editor of acme lands as acme/editor, sees only acme's rules and saves one (the CSRF header at work), and signs
out; a viewer's attempt to save a rule is refused with the 403 shown."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, Route, expect

from services.common.cli.procs import free_port
from services.gateway.oidc.sign_in import CALLBACK_PATH
from tests.gateway.conftest import CPU_RULE
from tests.gateway.live_gateway import LiveGateway, start_gateway
from tests.gateway.oidc.conftest import ACCOUNTS, oidc_settings
from tests.support.nats import NatsServer
from tests.support.oidc_provider import OidcProvider, start_provider
from tests.ui.test_lab1_builder import fill_lab1_rule

# About 20 s with its own gateway and provider (the browser flow takes a few seconds per sign-in): `make test-slow`.
pytestmark = [pytest.mark.ui, pytest.mark.slow]

PROVIDER_PORT = free_port()  # the gateway is configured with the issuer before the provider knows its callback


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, nats_server: NatsServer) -> Iterator[LiveGateway]:
    """A real gateway that signs users in through the provider below (this module's own: the tenants are fixed)."""
    settings = oidc_settings(f"http://127.0.0.1:{PROVIDER_PORT}")
    live = start_gateway(tmp_path_factory.mktemp("ui-oidc-gateway"), oidc=settings)
    yield live
    live.stop()


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory, gateway: LiveGateway) -> Iterator[OidcProvider]:
    running = start_provider(
        tmp_path_factory.mktemp("ui-oidc"), [gateway.url + CALLBACK_PATH], ACCOUNTS, port=PROVIDER_PORT
    )
    yield running
    running.stop()


def _offline(route: Route) -> None:
    route.abort()  # the provider's login page asks for a web font; this machine has no internet


def sign_in_at_provider(page: Page, gateway: LiveGateway, login: str) -> None:
    """Open the Rules page, press "Sign in", and sign in on the provider's own form (any password), then consent."""
    page.route("https://**/*", _offline)
    page.goto(f"{gateway.url}/cep-builder")
    expect(page.get_by_label("API token")).to_have_count(0)  # no token-paste field where a provider signs in
    page.get_by_role("link", name="Sign in").click()
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("any password")
    page.get_by_role("button", name="Sign-in").click()
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(f"{gateway.url}/cep-builder")


def test_an_editor_lands_in_their_tenant_sees_only_its_rules_and_signs_out(
    page: Page, gateway: LiveGateway, provider: OidcProvider
) -> None:
    for tenant in ("acme", "globex"):
        created = httpx.post(
            f"{gateway.url}/cep/rules", headers=gateway.token(tenant), json={**CPU_RULE, "name": f"{tenant}_rule"}
        )
        assert created.status_code == 201, created.text
    sign_in_at_provider(page, gateway, "erin")
    expect(page.locator("#whoami")).to_have_text("acme · editor")
    expect(page.locator("#user-name")).to_have_text("Erin Editor")
    rows = page.locator("#rule-list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("acme_rule")
    fill_lab1_rule(page)  # previewed (POST) and saved (POST) with the session cookie and its CSRF header
    page.get_by_role("button", name="Save rule").click()
    expect(page.locator("#rule-list tbody tr", has_text="cpu_high_alert")).to_contain_text("Draft")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()
    expect(page.locator("#whoami")).to_have_text("not signed in")


def test_a_viewer_cannot_save_a_rule(page: Page, gateway: LiveGateway, provider: OidcProvider) -> None:
    sign_in_at_provider(page, gateway, "victor")
    expect(page.locator("#whoami")).to_have_text("acme · viewer")
    fill_lab1_rule(page)
    page.get_by_label("Name", exact=True).fill("viewer_rule")
    page.get_by_role("button", name="Save rule").click()
    alert = page.locator("#editor-problem")
    expect(alert).to_contain_text("403")
    expect(alert).to_contain_text("needs the editor role")
    names = [
        rule["name"] for rule in httpx.get(f"{gateway.url}/cep/rules", headers=gateway.token("acme")).json()["items"]
    ]
    assert "viewer_rule" not in names
