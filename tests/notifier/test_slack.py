"""The Slack sender against a real local server answering as Slack's incoming webhooks do."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from services.common.messages.channels import ChannelEntry
from services.notifier.channels.base import Delivery
from services.notifier.channels.slack import body, classify, send
from tests.support.http_sink import http_sink

HOOK_PATH = "/services/T0001/B0002/Secret-Hook-Token-4711"
EVENT: dict[str, Any] = {
    "event_id": "e1",
    "kind": "fired",
    "rule_name": "cpu_high_alert",
    "severity": "critical",
    "status": "open",
    "group_key": "host=gt-01",
    "summary": "cpu_usage > 85 for 5m <!channel>",
}


def _delivery(url: str, event: dict[str, Any] | None = None, **config: Any) -> Delivery:
    entry = ChannelEntry("t", uuid.uuid4().hex, "ops", "slack", {"webhook_url": url, "timeout": "5s", **config}, 1)
    return Delivery("tid:0", entry, event or EVENT, "CPU high on gt-01 & <http://evil|click>", 1)


def test_the_payload_has_the_text_and_a_compact_attachment() -> None:
    payload = body(_delivery("http://h" + HOOK_PATH, channel="#ops", username="cep"))
    assert payload["text"] == "CPU high on gt-01 &amp; &lt;http://evil|click&gt;"
    assert payload["channel"] == "#ops" and payload["username"] == "cep"
    [attachment] = payload["attachments"]
    fields = {f["title"]: f["value"] for f in attachment["fields"]}
    assert fields == {
        "Severity": "critical",
        "Rule": "cpu_high_alert",
        "Status": "open",
        "Group": "host=gt-01",
        "Summary": "cpu_usage &gt; 85 for 5m &lt;!channel&gt;",
    }
    assert attachment["color"] == "#b00020"
    assert body(_delivery("http://h/x", {**EVENT, "kind": "resolved"}))["attachments"][0]["color"] == "#2e7d32"
    assert "channel" not in body(_delivery("http://h/x"))


@pytest.mark.parametrize(
    ("status", "answer", "kind"),
    [
        (200, b"ok", None),
        (403, b"invalid_token", "auth"),
        (404, b"no_service", "auth"),
        (410, b"no_team", "auth"),
        (400, b"invalid_payload", "config"),
        (404, b"channel_not_found", "config"),
        (410, b"channel_is_archived", "config"),
        (401, b"<html>nope</html>", "auth"),
        (429, b"rate_limited", "http"),
        (500, b"rollup_error", "http"),
        (503, b"", "http"),
    ],
)
def test_classify(status: int, answer: bytes, kind: str | None) -> None:
    outcome = classify(status, answer, 1.0)
    assert (outcome.ok, outcome.error_kind, outcome.status_code) == (kind is None, kind, status)
    if kind is not None and b"_" in answer:  # Slack's error code is named in the detail
        assert answer.decode() in str(outcome.detail)
    assert "<html>" not in str(outcome.detail)


async def test_a_message_reaches_the_hook() -> None:
    with http_sink() as slack:
        async with httpx.AsyncClient() as client:
            outcome = await send(client, _delivery(slack.url + HOOK_PATH, channel="#ops"))
        [request] = slack.wait_for(1)
    assert outcome.ok and outcome.status_code == 200
    assert request.method == "POST" and request.path == HOOK_PATH
    assert request.headers["Content-Type"].startswith("application/json")
    assert request.json()["channel"] == "#ops" and request.json()["attachments"][0]["fields"]


@pytest.mark.parametrize(
    ("status", "answer", "kind"),
    [(403, b"invalid_token", "auth"), (404, b"channel_not_found", "config"), (500, b"", "http")],
)
async def test_slack_errors_are_classified_and_never_show_the_hook(status: int, answer: bytes, kind: str) -> None:
    with http_sink(lambda _: (status, answer)) as slack:
        async with httpx.AsyncClient() as client:
            outcome = await send(client, _delivery(slack.url + HOOK_PATH))
    assert (outcome.ok, outcome.error_kind, outcome.status_code) == (False, kind, status)
    assert "Secret-Hook-Token" not in str(outcome) and "T0001" not in str(outcome)


async def test_an_unreachable_hook_is_a_network_error_without_the_url() -> None:
    async with httpx.AsyncClient() as client:
        outcome = await send(client, _delivery("http://127.0.0.1:9" + HOOK_PATH))
    assert outcome.error_kind == "network"
    assert "Secret-Hook-Token" not in str(outcome) and HOOK_PATH not in str(outcome)
