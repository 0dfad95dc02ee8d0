"""Labels in the rule builder: a label added in the editor shows in the JSON preview and is saved with the rule."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.gateway.live_gateway import LiveGateway
from tests.ui.conftest import sign_in

pytestmark = pytest.mark.ui


def test_a_label_added_in_the_builder_is_stored(
    page: Page, gateway: LiveGateway, token: str, api: httpx.Client
) -> None:
    sign_in(page, gateway, token)
    page.get_by_label("Name", exact=True).fill("errors_with_labels")
    page.get_by_label("Trigger type").select_option("event")
    page.get_by_label("Event type").fill("error")
    page.get_by_role("button", name="Add label").click()
    page.get_by_label("Label 1 name").fill("team")
    page.get_by_label("Label 1 value").fill("sre")
    page.get_by_role("button", name="Add label").click()
    page.get_by_label("Label 2 name").fill("drop_me")
    page.get_by_role("button", name="Remove label 2").click()
    page.get_by_role("button", name="Add annotation").click()
    page.get_by_label("Annotation 1 name").fill("summary")
    page.get_by_label("Annotation 1 value").fill("{{ payload.service }} failing")
    expect(page.locator("#json-preview")).to_contain_text('"team": "sre"')  # the preview shows what will be saved
    expect(page.locator("#json-preview")).not_to_contain_text("drop_me")
    page.get_by_role("button", name="Save rule").click()
    expect(page.locator("#editor-heading")).to_have_text("Edit rule: errors_with_labels (v1)")
    (stored,) = [r for r in api.get("/cep/rules").json()["items"] if r["name"] == "errors_with_labels"]
    assert stored["labels"] == {"team": "sre"}
    assert stored["annotations"] == {"summary": "{{ payload.service }} failing"}
    # Opened again, the editor shows the stored label.
    expect(page.get_by_label("Label 1 name")).to_have_value("team")
