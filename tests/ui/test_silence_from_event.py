"""The issue's done-criterion, in the browser against a real `cep up` stack: an open event notifies a real local
webhook receiver once; the user silences it from the event's page ("Silence this", "Create silence"); its next
notification (the resolution) and the next occurrence's are not delivered, and the event's notifications list
shows them `suppressed`. The notifier's muting stage does the suppressing (silences mirrored from the gateway)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.gateway.conftest import ADMIN_SECRET
from tests.support.http_sink import http_sink
from tests.support.stack import start_stack, stop_stack
from tests.ui.conftest import sign_in
from tests.ui.recorded import wait_listed
from tests.ui.test_events_page import StackGateway, ingest

pytestmark = [pytest.mark.ui, pytest.mark.e2e]

RESOLVE_AFTER_S = 15  # long enough to silence the open event first, short enough for a test
RULE = {
    "name": "db_errors",
    "active": True,
    "trigger_type": "event",
    "trigger_spec": {
        "event_type": "error",
        "group_by": ["service"],
        "resolve_after": f"{RESOLVE_AFTER_S}s",
        "notify_resolved": True,
    },
    "conditions": {"logic": "AND", "conditions": [{"field": "severity", "op": "==", "value": "critical"}]},
    "action_spec": [{"type": "webhook", "channel": "ops-hook", "message": "{{ summary }}"}],
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackGateway]:
    """A whole `cep up` stack (ingest, evaluator on Ray, notifier, gateway) whose admin token is the tests' one."""
    stack = start_stack(tmp_path_factory.mktemp("ui-silence-stack") / "state", token=ADMIN_SECRET)
    yield StackGateway(stack)
    stop_stack(stack)


def notifications(api: httpx.Client, event_id: str, count: int, timeout: float = 60) -> list[dict[str, object]]:
    """The event's notifications once it has `count` of them in a final state."""
    deadline = time.monotonic() + timeout
    while True:
        entries = api.get(f"/cep/events/{event_id}").json().get("notifications") or []
        final = [n for n in entries if n["status"] in ("sent", "failed", "suppressed")]
        if len(final) >= count:
            return final
        assert time.monotonic() < deadline, f"the event has {entries} after {timeout} s"
        time.sleep(0.5)


@pytest.mark.slow  # a whole stack and a resolution timer; it needs the notifier's muting stage (branch h-muting)
def test_silence_an_open_event_from_its_page_and_its_next_notification_is_suppressed(
    page: Page, gateway: StackGateway, token: str, api: httpx.Client
) -> None:
    with http_sink(lambda _: (200, b"{}")) as sink:
        channel = {"name": "ops-hook", "type": "webhook", "config": {"url": f"{sink.url}/hook"}}
        assert api.post("/cep/channels", json=channel).status_code == 201
        assert api.post("/cep/rules", json=RULE).status_code == 201
        sign_in(page, gateway, token, "/cep-events")  # type: ignore[arg-type]
        expect(page.locator("#live")).to_have_text("Live")

        ingest(api, service="db")
        [event] = wait_listed(api, 1)
        sink.wait_for(1, timeout=30)  # the opening is notified
        row = page.locator("#event-list tbody tr", has_text="db_errors")
        row.get_by_role("button").click()
        expect(page.locator("#notification-table")).to_contain_text("sent")

        page.get_by_role("link", name="Silence this").click()  # click 1: the form, filled from the event
        expect(page.get_by_label("Matcher 2 value")).to_have_value("db")
        expect(page.locator(f'#silence-preview li[data-id="{event["event_id"]}"]')).to_have_count(1)
        page.get_by_role("button", name="Create silence").click()  # click 2
        expect(page.locator("#silence-list tbody tr")).to_contain_text("active")

        # The event resolves RESOLVE_AFTER_S after its last occurrence: that notification is silenced.
        [opened, resolved] = notifications(api, str(event["event_id"]), 2, timeout=RESOLVE_AFTER_S + 60)
        assert (opened["status"], resolved["status"]) == ("sent", "suppressed"), [opened, resolved]
        assert "silenced" in str(resolved.get("reason") or "")
        # The next occurrence opens a new event: its notification is silenced as well.
        ingest(api, service="db")
        newer = next(e for e in wait_listed(api, 2, timeout=30) if e["event_id"] != event["event_id"])
        [fired] = notifications(api, str(newer["event_id"]), 1)
        assert fired["status"] == "suppressed"
        assert len(sink.requests) == 1, "a silenced notification was delivered"

        page.goto(f"{gateway.url}/cep-events")
        page.locator(f'#event-list tbody tr[data-id="{event["event_id"]}"]').get_by_role("button").click()
        table = page.locator("#notification-table")
        expect(table.locator("tbody tr", has_text="resolved")).to_contain_text("suppressed")
        expect(table).to_contain_text("silenced")
