"""The settings page in the browser: an admin turns team policies on and sets a tenant ACK SLA; an editor reads them
but cannot change them; the policies then refuse an activation through the API (409 naming the policy)."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.gateway.conftest import ADMIN, CPU_RULE
from tests.gateway.live_gateway import LiveGateway
from tests.ui.conftest import sign_in

pytestmark = pytest.mark.ui


def test_an_admin_sets_policies_and_an_editor_only_reads_them(
    page: Page, gateway: LiveGateway, token: str, api: httpx.Client
) -> None:
    tenant = api.get("/cep/auth/whoami").json()["tenant"]
    minted = httpx.post(
        f"{gateway.url}/cep/auth/tokens", headers=ADMIN, json={"tenant": tenant, "role": "admin", "name": "lead"}
    )
    sign_in(page, gateway, minted.json()["token"], "/cep-settings")
    expect(page.locator("#settings-state")).to_have_text("never changed: every policy is off")
    page.get_by_label("Simulations needed before activation (empty: off)").fill("3")
    page.get_by_label("P1 rules need an owner and a backup owner").check()
    page.get_by_label("Use this tenant's own ACK SLA (otherwise the platform's)").check()
    page.get_by_label("P1 (e.g. 15m; empty: none)").fill("10m")
    page.get_by_role("button", name="Save policies").click()
    expect(page.locator("#settings-state")).to_contain_text("version 1")
    expect(page.locator("#settings-state")).to_contain_text("by lead · saved")

    stored = api.get("/cep/settings").json()
    assert stored["policies"] == {
        "min_simulations_before_activation": 3,
        "require_channel_test": False,
        "p1_requires_owner_and_backup": True,
        "anomaly_requires_ready_baseline": False,
        "ack_sla": {"P1": "10m"},
    }
    # a bad value comes back as the API's problem, naming the field
    page.get_by_label("P2 (e.g. 15m; empty: none)").fill("soon")
    page.get_by_role("button", name="Save policies").click()
    expect(page.locator("#settings-problem")).to_contain_text("policies.ack_sla")

    refused = api.post("/cep/rules", json={**CPU_RULE, "active": True, "priority": "P1"})
    assert refused.status_code == 409 and refused.json()["policy"] == "min_simulations_before_activation"

    sign_in(page, gateway, token, "/cep-settings")  # the editor
    expect(page.locator("#settings-state")).to_contain_text("read only")
    expect(page.get_by_label("P1 rules need an owner and a backup owner")).to_be_checked()
    expect(page.get_by_label("P1 rules need an owner and a backup owner")).to_be_disabled()
    expect(page.get_by_role("button", name="Save policies")).to_be_disabled()
