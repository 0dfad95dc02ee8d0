"""The Silences page in the browser against a real gateway: the matcher editor's live preview lists the open event
it matches, the silence is created and expired, a 422 is shown next to its field, and "Silence this" on an
event's detail fills the form with the event's alertname and group labels."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.gateway.live_gateway import Episode, LiveGateway
from tests.support.nats import NatsServer
from tests.ui.conftest import sign_in
from tests.ui.recorded import publish, tenant_of, wait_listed

pytestmark = pytest.mark.ui


def open_events(api: httpx.Client, nats_url: str, *hosts: str) -> list[dict[str, object]]:
    """One open event of `disk_full` per host (labels alertname, severity, priority, host), as recorded."""
    tenant = tenant_of(api)
    now = datetime.now(UTC).replace(microsecond=0)
    fired = []
    for host in hosts:
        episode = Episode(tenant, rule_id="disk-rule", group_key=f"host={host}", started_at=now, severity="critical")
        labels = {"alertname": "disk_full", "severity": "critical", "priority": "P2", "host": host}
        fired.append(replace(episode.transition("fired"), rule_name="disk_full", labels=labels))
    publish(nats_url, fired)
    return wait_listed(api, len(hosts))


def test_create_with_the_matcher_editor_and_preview_then_expire(
    page: Page, gateway: LiveGateway, token: str, api: httpx.Client, nats_server: NatsServer
) -> None:
    events = open_events(api, nats_server.url, "db-1", "web-1")
    db_event = next(e for e in events if e["labels"]["host"] == "db-1")  # type: ignore[index]
    sign_in(page, gateway, token, "/cep-silences")
    expect(page.get_by_label("Author")).to_have_value("ui-tester")  # the token's name
    page.get_by_label("Matcher 1 name").fill("alertname")
    page.get_by_label("Matcher 1 value").fill("disk_full")
    preview = page.locator("#silence-preview")
    expect(preview.locator("#preview-count")).to_have_text("2 open events would be silenced.")
    page.get_by_role("button", name="Add matcher").click()
    expect(page.get_by_label("Matcher 2 name")).to_be_focused()
    page.keyboard.type("host")
    page.get_by_label("Matcher 2 operator").select_option("=~")
    page.get_by_label("Matcher 2 value").fill("db-.*")
    expect(preview.locator("#preview-count")).to_have_text("1 open event would be silenced.")
    expect(preview.locator(f'li[data-id="{db_event["event_id"]}"]')).to_contain_text("host=db-1")

    page.get_by_label("Duration").fill("30m")
    page.get_by_label("Comment").fill("disk swap on db-1")
    page.get_by_role("button", name="Create silence").click()
    row = page.locator("#silence-list tbody tr")
    expect(row).to_have_count(1)
    expect(page.locator("#silence-origin")).to_contain_text("Created silence")
    expect(preview).to_have_text("Add a matcher to see the open events it matches.")  # the form starts afresh
    expect(row).to_contain_text('alertname="disk_full", host=~"db-.*"')
    expect(row).to_contain_text("active")
    expect(row).to_contain_text("disk swap on db-1")
    [stored] = api.get("/cep/silences").json()["items"]
    assert stored["created_by"] == "ui-tester" and stored["state"] == "active"
    assert stored["matchers"] == [
        {"name": "alertname", "type": "=", "value": "disk_full"},
        {"name": "host", "type": "=~", "value": "db-.*"},
    ]

    row.get_by_role("button", name="Expire").click()
    expect(page.locator("#silence-list tbody tr")).to_have_count(0)  # the default filter: active and pending
    assert api.get(f"/cep/silences/{stored['silence_id']}").json()["state"] == "expired"
    page.get_by_label("State").select_option("expired")
    expect(page.locator("#silence-list tbody tr")).to_contain_text("expired")


def test_field_errors_show_next_to_their_fields(page: Page, gateway: LiveGateway, token: str) -> None:
    sign_in(page, gateway, token, "/cep-silences")
    page.get_by_label("Matcher 1 name").fill("host")
    page.get_by_label("Matcher 1 operator").select_option("=~")
    page.get_by_label("Matcher 1 value").fill("db-(")
    row_error = page.locator("#m-0-error")
    expect(row_error).to_be_visible()  # the live preview already says the regex is wrong
    expect(row_error).to_contain_text("regular expression")
    page.get_by_role("button", name="Create silence").click()
    expect(page.locator('[data-error-for="comment"]')).to_be_visible()
    page.get_by_label("Matcher 1 value").fill("db-.*")
    page.get_by_label("Comment").fill("maintenance")
    page.get_by_label("Duration").fill("soon")
    page.get_by_role("button", name="Create silence").click()
    expect(page.locator('[data-error-for="duration"]')).to_be_visible()
    expect(page.get_by_label("Duration")).to_have_attribute("aria-invalid", "true")
    expect(page.locator('[data-error-for="comment"]')).to_be_hidden()
    expect(page.locator("#silence-problem")).to_be_hidden()  # every error has its field: nothing left over


def test_silence_this_from_an_event_prefills_the_form(
    page: Page, gateway: LiveGateway, token: str, api: httpx.Client, nats_server: NatsServer
) -> None:
    [event] = open_events(api, nats_server.url, "db-7")
    sign_in(page, gateway, token, "/cep-events")
    page.locator("#event-list tbody tr", has_text="disk_full").get_by_role("button").click()
    page.get_by_role("link", name="Silence this").click()  # click 1
    expect(page).to_have_url(f"{gateway.url}/cep-silences?matcher=alertname%3Ddisk_full&matcher=host%3Ddb-7"
                             f"&event={event['event_id']}&rule=disk_full")  # fmt: skip
    expect(page.get_by_label("Matcher 1 name")).to_have_value("alertname")
    expect(page.get_by_label("Matcher 1 value")).to_have_value("disk_full")
    expect(page.get_by_label("Matcher 2 name")).to_have_value("host")
    expect(page.get_by_label("Matcher 2 value")).to_have_value("db-7")
    expect(page.locator(f'#silence-preview li[data-id="{event["event_id"]}"]')).to_have_count(1)
    page.get_by_role("button", name="Create silence").click()  # click 2: the comment is prefilled
    expect(page.locator("#silence-list tbody tr")).to_have_count(1)
    [stored] = api.get("/cep/silences").json()["items"]
    assert [(m["name"], m["value"]) for m in stored["matchers"]] == [("alertname", "disk_full"), ("host", "db-7")]
    assert stored["comment"] == "Silenced from the event disk_full"


def test_a_weekly_recurring_silence(page: Page, gateway: LiveGateway, token: str, api: httpx.Client) -> None:
    stranger = gateway.token(f"other-{uuid.uuid4().hex[:8]}", "editor")  # another tenant's silence stays unseen
    theirs = {"matchers": ["team=db"], "comment": "not yours", "duration": "1h"}
    assert httpx.post(f"{gateway.url}/cep/silences", headers=stranger, json=theirs).status_code == 201
    sign_in(page, gateway, token, "/cep-silences")
    expect(page.locator("#silence-count")).to_have_text("0 silences")
    page.get_by_label("Matcher 1 name").fill("team")
    page.get_by_label("Matcher 1 value").fill("db")
    page.get_by_label("Comment").fill("nightly backups")
    page.get_by_label("Repeat every week").check()
    page.get_by_label("sat").check()
    page.get_by_label("sun").check()
    page.get_by_label("From (time)").fill("01:00")
    page.get_by_label("Until (time)").fill("03:30")
    page.get_by_label("Time zone").fill("Mars/Olympus")
    page.get_by_role("button", name="Create silence").click()
    expect(page.locator('[data-error-for="recurrence"]')).to_contain_text("unknown time zone")
    page.get_by_label("Time zone").fill("Europe/Berlin")
    page.get_by_role("button", name="Create silence").click()
    expect(page.locator("#silence-list tbody tr")).to_contain_text("recurring (Europe/Berlin)")
    expect(page.locator("#silence-list tbody tr")).to_have_count(1)
    [stored] = api.get("/cep/silences").json()["items"]
    assert stored["kind"] == "recurring" and stored["ends_at"] is None
    assert stored["recurrence"] == {
        "timezone": "Europe/Berlin",
        "windows": [{"times": [{"start_time": "01:00", "end_time": "03:30"}], "weekdays": ["saturday", "sunday"]}],
    }
