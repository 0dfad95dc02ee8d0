"""Browser fixtures: Debian's chromium driven by Playwright, against a real gateway on a loopback port.

The gateway is the real app (uvicorn in a thread, the session's nats-server, SQLite in a temp dir), shared by the
module; every test gets its own tenant, so tests do not see each other's rules. Every test leaves a screenshot
of its last page in `tests/ui/artifacts/` (or `$CEP_UI_ARTIFACTS`), passed or failed.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.gateway.conftest import ADMIN
from tests.gateway.live_gateway import LiveGateway, start_gateway
from tests.support.nats import NatsServer

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("CEP_UI_ARTIFACTS", Path(__file__).parent / "artifacts"))
LAPTOP = {"width": 1024, "height": 768}
DESKTOP = {"width": 1440, "height": 900}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless chromium for the session (Debian's package; `.ci/run` installs it when missing)."""
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does it)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, nats_server: NatsServer) -> Iterator[LiveGateway]:
    """A real gateway serving the UI and the API on a loopback port."""
    live = start_gateway(tmp_path_factory.mktemp("ui-gateway"))
    yield live
    live.stop()


@pytest.fixture
def token(gateway: LiveGateway) -> str:
    """An editor token of a fresh tenant (the secret itself, as a user pastes it into the UI)."""
    body = {"tenant": f"ui-{uuid.uuid4().hex[:10]}", "role": "editor", "name": "ui-tester"}
    response = httpx.post(f"{gateway.url}/cep/auth/tokens", headers=ADMIN, json=body, timeout=10)
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


@pytest.fixture
def api(gateway: LiveGateway, token: str) -> Iterator[httpx.Client]:
    """An API client of the same tenant as the browser (what an API user does beside the UI)."""
    with httpx.Client(base_url=gateway.url, headers={"Authorization": f"Bearer {token}"}, timeout=10) as client:
        yield client


def _artifact_name(request: pytest.FixtureRequest) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in request.node.name)


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser page at desktop width; a screenshot of it is saved when the test ends."""
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(10_000)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    yield opened
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"{_artifact_name(request)}.png"
    opened.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")
    context.close()
    assert errors == [], f"uncaught errors in the page: {errors}"


def sign_in(page: Page, gateway: LiveGateway, token: str, path: str = "/cep-builder", *, accepted: bool = True) -> None:
    """Open a UI page and enter the token in the labelled field, as a user does the first time; when `accepted`,
    wait until the header shows the caller (the page has its data)."""
    page.goto(f"{gateway.url}{path}")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Use token").click()
    if accepted:
        expect(page.locator("#whoami")).to_contain_text(" · ")
