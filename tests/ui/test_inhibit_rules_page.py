"""The Inhibition page in the browser against a real gateway: a rule is drafted with its preview of what it would
inhibit now, created, edited and deleted; events show "silenced" and "inhibited" badges when the API says so."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import httpx
import pytest
from playwright.sync_api import Page, Route, expect

from tests.gateway.live_gateway import Episode, LiveGateway
from tests.support.nats import NatsServer
from tests.ui.conftest import sign_in
from tests.ui.recorded import publish, tenant_of, wait_listed

pytestmark = pytest.mark.ui


def record(api: httpx.Client, nats_url: str, *alerts: tuple[str, str]) -> list[dict[str, object]]:
    """One open event per (alertname, host), as the recorder stores it."""
    tenant = tenant_of(api)
    now = datetime.now(UTC).replace(microsecond=0)
    fired = []
    for name, host in alerts:
        episode = Episode(tenant, rule_id=f"{name}-rule", group_key=f"host={host}", started_at=now)
        labels = {"alertname": name, "severity": "high", "priority": "P2", "host": host}
        fired.append(replace(episode.transition("fired"), rule_name=name, labels=labels))
    publish(nats_url, fired)
    return wait_listed(api, len(alerts))


def test_draft_with_preview_create_edit_and_delete(
    page: Page, gateway: LiveGateway, token: str, api: httpx.Client, nats_server: NatsServer
) -> None:
    events = record(api, nats_server.url, ("host_down", "db-1"), ("disk_full", "db-1"), ("disk_full", "db-2"))
    inhibited = next(e for e in events if e["rule_name"] == "disk_full" and e["labels"]["host"] == "db-1")  # type: ignore[index]
    sign_in(page, gateway, token, "/cep-inhibit-rules")
    expect(page.locator("#inhibit-preview-count")).to_have_text("No open event would be inhibited.")
    page.get_by_label("Source matcher 1 name").fill("alertname")
    page.get_by_label("Source matcher 1 value").fill("host_down")
    page.get_by_label("Target matcher 1 name").fill("alertname")
    page.get_by_label("Target matcher 1 value").fill("disk_full")
    expect(page.locator("#inhibit-preview-count")).to_have_text("2 open events would be inhibited.")
    page.get_by_label("Equal labels").fill("host")
    expect(page.locator("#inhibit-preview-count")).to_have_text("1 open event would be inhibited.")
    expect(page.locator(f'#inhibited-events li[data-id="{inhibited["event_id"]}"]')).to_contain_text("host=db-1")
    expect(page.locator("#inhibit-preview-basis")).to_have_text("under the rule in the form")

    page.get_by_label("Description").fill("a host down mutes its disks")
    page.get_by_role("button", name="Create rule").click()
    row = page.locator("#inhibit-list tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text('alertname="host_down"')
    expect(page.locator("#inhibit-form-heading")).to_have_text("Edit inhibition rule (v1)")
    [stored] = api.get("/cep/inhibit-rules").json()["items"]
    assert stored["equal"] == ["host"] and stored["description"] == "a host down mutes its disks"

    page.get_by_label("Target matcher 1 name").fill("1bad")  # not a label name: the 422 names the row
    page.get_by_role("button", name="Save rule").click()
    expect(page.locator("#tgt-0-error")).to_contain_text("label name")
    page.get_by_label("Target matcher 1 name").fill("alertname")
    page.get_by_label("Target matcher 1 value").fill("disk_full")
    page.get_by_label("Equal labels").fill("host, cluster")
    page.get_by_role("button", name="Save rule").click()
    expect(page.locator("#inhibit-form-heading")).to_have_text("Edit inhibition rule (v2)")
    expect(row).to_contain_text("host, cluster")

    page.get_by_role("button", name="Delete").click()
    expect(page.locator("#inhibit-list tbody tr")).to_have_count(0)
    assert api.get("/cep/inhibit-rules").json()["total"] == 0


def test_events_show_silenced_and_inhibited_badges(
    page: Page, gateway: LiveGateway, token: str, api: httpx.Client, nats_server: NatsServer
) -> None:
    """The badges follow `silenced_by`/`inhibited_by` of the event JSON (added to the API by the muting work: here
    the answers are given those fields on their way to the page)."""
    [event] = record(api, nats_server.url, ("disk_full", "db-3"))
    muted = {"silenced_by": ["sil-1"], "inhibited_by": ["evt-9"]}

    def with_muting(route: Route) -> None:
        body = route.fetch().json()
        for item in body.get("items", [body]):
            item.update(muted)
        route.fulfill(json=body)

    page.route("**/cep/events?*", with_muting)
    page.route(f"**/cep/events/{event['event_id']}", with_muting)
    sign_in(page, gateway, token, "/cep-events")
    row = page.locator("#event-list tbody tr", has_text="disk_full")
    expect(row.locator(".badge-muted")).to_have_text(["silenced", "inhibited"])
    expect(row.locator(".badge-muted").first).to_have_attribute("title", "silenced by sil-1")
    row.get_by_role("button").click()
    expect(page.locator("#event-detail .toolbar .badge-muted")).to_have_text(["silenced", "inhibited"])
    muted.update(silenced_by=[], inhibited_by=[])  # present but empty: no badge
    page.reload()
    expect(page.locator("#event-list tbody tr", has_text="disk_full")).to_have_count(1)
    expect(page.locator(".badge-muted")).to_have_count(0)
