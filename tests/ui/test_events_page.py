"""The events page in the browser against a real `cep up` stack: an event ingested over the API appears live (no
reload), its detail shows the explanation, the delivery and the history, it is acknowledged with a note and
labelled; a dropped connection shows, and on reconnect the stream resumes with what was missed (Labs 7 and 10)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.gateway.conftest import ADMIN_SECRET
from tests.support.http_sink import http_sink
from tests.support.stack import Stack, start_stack, stop_stack
from tests.ui.conftest import ARTIFACTS, sign_in
from tests.ui.recorded import wait_listed

pytestmark = [pytest.mark.ui, pytest.mark.e2e]

RULE = {
    "name": "critical_error_event",
    "active": True,
    "trigger_type": "event",
    "trigger_spec": {"event_type": "error", "group_by": ["service"]},
    "conditions": {"logic": "AND", "conditions": [{"field": "severity", "op": "==", "value": "critical"}]},
    "action_spec": [{"type": "webhook", "channel": "ops-hook", "message": "{{ summary }}"}],
}


class StackGateway:
    """The gateway of a `cep up` stack, standing in for the module's in-process gateway (same `url`)."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.url = stack.url


def wait_ready(url: str, timeout: float = 60) -> None:
    """Until the gateway answers /readyz with 200 (the whole stack ready)."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        assert time.monotonic() < deadline, "the gateway did not come back"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackGateway]:
    """A whole `cep up` stack (ingest, evaluator on Ray, notifier, gateway) whose admin token is the tests' one."""
    stack = start_stack(tmp_path_factory.mktemp("ui-stack") / "state", token=ADMIN_SECRET)
    yield StackGateway(stack)
    stop_stack(stack)


def ingest(api: httpx.Client, **payload: str) -> None:
    response = api.post("/cep/ingest", json={"event_type": "error", "severity": "critical", **payload})
    assert response.status_code == 202 and response.json()["accepted"] == 1, response.text


@pytest.mark.slow  # long (a stack or a kill and recovery): `make test-slow` keeps `make test` under 10 min
def test_an_ingested_event_shows_live_and_is_acknowledged(
    page: Page, gateway: StackGateway, token: str, api: httpx.Client
) -> None:
    with http_sink(lambda _: (200, b"{}")) as sink:
        channel = {"name": "ops-hook", "type": "webhook", "config": {"url": f"{sink.url}/hook"}}
        assert api.post("/cep/channels", json=channel).status_code == 201
        assert api.post("/cep/rules", json=RULE).status_code == 201
        stream_urls: list[str] = []
        page.on("request", lambda r: stream_urls.append(r.url) if "/cep/events/stream?" in r.url else None)
        sign_in(page, gateway, token, "/cep-events")  # type: ignore[arg-type]
        expect(page.locator("#live")).to_have_text("Live")
        expect(page.locator("#event-count")).to_have_text("0 events")

        ingest(api, service="api-gateway")
        row = page.locator("#event-list tbody tr", has_text="critical_error_event")
        expect(row).to_have_count(1)  # arrived over SSE: the page was not reloaded
        expect(row).to_contain_text("open")
        expect(page.locator("#event-count")).to_have_text("1 event")

        # A list update arriving between mouse down and up (the delivery result, say) re-renders the row, and the
        # browser then fires no click (it failed so once in CI): click again until the detail opens.
        for _ in range(3):
            row.get_by_role("button").click()
            try:
                expect(page.locator("#explanation-table")).to_be_visible(timeout=3_000)
                break
            except AssertionError:
                continue
        detail = page.locator("#event-detail")
        expect(page.locator("#explanation-table")).to_contain_text("severity == 'critical'")
        # the delivery result, live too (through the notifier and the recorder: seconds on a loaded machine; once,
        # in a CI run on a 2-core VM, more than 20 s: the row stayed `pending` with no attempt yet)
        expect(page.locator("#notification-table")).to_contain_text("sent", timeout=45_000)
        sink.wait_for(1)

        page.get_by_label("ACK note").fill("looking into it")
        page.get_by_role("button", name="Acknowledge").click()
        expect(detail.locator(".toolbar .badge").first).to_have_text("acked")
        history = page.locator("#history-table tbody tr")
        expect(history.last).to_contain_text("acked")
        expect(history.last).to_contain_text("ui-tester")
        expect(history.last).to_contain_text("looking into it")
        expect(history.first).to_contain_text("open")
        expect(row).to_contain_text("acked")
        page.get_by_role("button", name="True positive").click()
        expect(detail.locator("dl.facts")).to_contain_text("true_positive by ui-tester")
        page.screenshot(path=str(ARTIFACTS / "events-detail.png"), full_page=True)

        # The connection drops (the gateway is killed; the browser is offline until it is back): the indicator
        # says so; an event recorded meanwhile arrives once the stream resumes after the last id it saw.
        page.context.set_offline(True)
        children = json.loads((gateway.stack.state_dir / "supervisor.json").read_text())["children"]
        os.killpg(children["gateway"]["pid"], signal.SIGKILL)
        expect(page.locator("#live")).to_have_text("Reconnecting…")
        wait_ready(gateway.url)  # the supervisor restarts it
        ingest(api, service="billing")
        [missed] = [e for e in wait_listed(api, 2) if "billing" in e["group_key"]]
        page.context.set_offline(False)
        expect(page.locator("#live")).to_have_text("Live")
        expect(page.locator(f'#event-list tbody tr[data-id="{missed["event_id"]}"]')).to_have_count(1)
        expect(page.locator("#event-list tbody tr")).to_have_count(2)
        expect(page.locator("#event-count")).to_have_text("2 events")
        # Every connection, the first and the reconnects, used a fresh short-lived ticket, never the API token.
        assert len(stream_urls) >= 2 and len(set(stream_urls)) == len(stream_urls), stream_urls
        assert all("ticket=" in url and "access_token" not in url for url in stream_urls), stream_urls

    stored = api.get("/cep/events", params={"acked": "true"}).json()["items"]
    assert [(e["rule_name"], e["history"][-1]["note"]) for e in stored] == [("critical_error_event", "looking into it")]
    assert Path(ARTIFACTS / "events-detail.png").exists()
