"""The channels page in the browser: create a webhook, test it against a real receiver (auth failure, classified),
fix it, test again (ok), and see both in the status table (Labs 6 and 12)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.gateway.live_gateway import LiveGateway
from tests.notifier.running import RunningNotifier, running_notifier
from tests.support.http_sink import http_sink
from tests.support.receiver import Received
from tests.ui.conftest import sign_in

pytestmark = pytest.mark.ui
SECRET = "hook-secret"


@pytest.fixture
def notifier(gateway: LiveGateway) -> Iterator[RunningNotifier]:
    """The real notifier service: channel tests are request/reply to it over NATS."""
    with running_notifier() as running:
        yield running


def _guarded(request: Received) -> tuple[int, bytes]:
    """A receiver that wants the bearer token: 401 without it."""
    return (200, b"{}") if request.headers.get("Authorization") == f"Bearer {SECRET}" else (401, b"no token")


def test_create_test_fix_and_retest_a_webhook(
    page: Page, gateway: LiveGateway, token: str, api: httpx.Client, notifier: RunningNotifier
) -> None:
    with http_sink(_guarded) as sink:
        sign_in(page, gateway, token, "/cep-channels")
        expect(page.locator("#channel-count")).to_have_text("0 channels")
        page.get_by_label("Name", exact=True).fill("ops-hook")
        page.get_by_label("Type").select_option("webhook")
        expect(page.get_by_label("auth_token (secret, write-only)")).to_be_visible()  # the fields of the type
        page.get_by_label("url (required)").fill(f"{sink.url}/hook")
        page.get_by_role("button", name="Save channel").click()
        expect(page.locator("#channel-heading")).to_have_text("Edit channel: ops-hook (v1)")
        row = page.locator("#channel-status tbody tr", has_text="ops-hook")
        expect(row).to_contain_text("never")

        # Lab 12 B: no auth header -> the receiver says 401 -> classified `auth`, recorded in the status.
        page.get_by_role("button", name="Test", exact=True).click()
        expect(page.locator("#test-verdict")).to_have_text("failed: auth")
        expect(page.locator("#test-result")).to_contain_text("401")
        expect(row.locator(".last-test")).to_contain_text("auth")

        # A message template with a missing variable fails as `template`, before anything is sent.
        page.get_by_label("Test message template").fill("{{ nope }}")
        page.get_by_role("button", name="Test", exact=True).click()
        expect(page.locator("#test-verdict")).to_have_text("failed: template")
        assert len(sink.requests) == 1
        page.get_by_label("Test message template").fill("")

        # Recovery: set the secret, save (v2), rerun the test: ok, and the receiver got the token.
        page.get_by_label("auth_token (secret, write-only)").fill(SECRET)
        page.get_by_role("button", name="Save channel").click()
        expect(page.locator("#channel-heading")).to_have_text("Edit channel: ops-hook (v2)")
        expect(page.get_by_label("auth_token (secret, write-only)")).to_have_attribute(
            "placeholder", "set (leave empty to keep)"
        )
        page.get_by_role("button", name="Test", exact=True).click()
        expect(page.locator("#test-verdict")).to_have_text("ok: delivered")
        expect(row.locator(".last-test")).to_contain_text("ok")
        assert sink.requests[-1].headers["Authorization"] == f"Bearer {SECRET}"

    [stored] = api.get("/cep/channels").json()["items"]
    assert (stored["name"], stored["config"]["url"], stored["secrets_set"]) == (
        "ops-hook",
        f"{sink.url}/hook",
        ["auth_token"],
    )
    [status] = api.get("/cep/channels/status").json()["items"]
    assert status["last_test"]["ok"] is True
