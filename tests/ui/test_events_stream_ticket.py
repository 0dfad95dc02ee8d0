"""The events page opens its live stream with a short-lived ticket, never with the API token in the URL (URLs end
up in proxy logs and browser history); a reconnect asks for a fresh ticket."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, Request, expect

from tests.gateway.live_gateway import LiveGateway
from tests.ui.conftest import sign_in

pytestmark = pytest.mark.ui


def test_the_event_source_url_carries_a_ticket_and_no_token(page: Page, gateway: LiveGateway, token: str) -> None:
    requests: list[Request] = []
    page.on("request", lambda request: requests.append(request))
    sign_in(page, gateway, token, "/cep-events")
    expect(page.locator("#live")).to_have_text("Live")

    streams = [r for r in requests if r.method == "GET" and "/cep/events/stream" in r.url]
    assert streams, [r.url for r in requests]
    for request in streams:
        assert "ticket=" in request.url and "access_token" not in request.url, request.url
    tickets = [r for r in requests if r.method == "POST" and r.url.endswith("/cep/events/stream/ticket")]
    assert len(tickets) >= len(streams)
    assert not [r.url for r in requests if token in r.url]  # the API token is in no URL the page requested

    # Connecting again (here: the token is entered again) asks for a fresh ticket: one ticket opens one stream.
    page.evaluate("window.dispatchEvent(new CustomEvent('cep:token', {detail: {}}))")
    expect(page.locator("#live")).to_have_text("Live")
    urls = [r.url for r in requests if r.method == "GET" and "/cep/events/stream" in r.url]
    assert len(urls) >= 2 and len(set(urls)) == len(urls), urls
