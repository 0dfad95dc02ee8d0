"""The webhook sender: status classification, headers, Standard Webhooks signatures checked by an independent
verifier (the `standardwebhooks` package) on requests a real local server received, and redaction."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from services.common.domain.notify.channel_types import TYPES
from services.common.domain.notify.channels import ChannelValidationError, parse_channel
from services.common.messages.channels import ChannelEntry
from services.notifier.channels import SENDERS, sender_for
from services.notifier.channels.base import Delivery, redact, secret_values
from services.notifier.channels.webhook import body, classify, message_id, request_headers, send
from tests.support.receiver import receiver

WHSEC = "whsec_" + base64.b64encode(b"a-32-byte-signing-key-for-tests!").decode()
RAW_SECRET = "plain-Secret-0815"


@pytest.mark.parametrize(
    ("status", "ok", "kind"),
    [
        (200, True, None),
        (204, True, None),
        (401, False, "auth"),
        (403, False, "auth"),
        (404, False, "http"),
        (429, False, "http"),
        (500, False, "http"),
        (302, False, "http"),
    ],
)
def test_classify(status: int, ok: bool, kind: str | None) -> None:
    outcome = classify(status, 3.0)
    assert (outcome.ok, outcome.error_kind, outcome.status_code) == (ok, kind, status)
    assert outcome.ok or outcome.error == f"{kind}: {outcome.detail}"


def _delivery(attempt: int = 2, event: dict[str, Any] | None = None, **config: object) -> Delivery:
    channel = ChannelEntry("t", "c1", "hook", "webhook", {"url": "http://h/", "headers": {"X-A": "1"}, **config}, 1)
    return Delivery("tid:0", channel, event or {"event_id": "e1", "transition_id": "tid"}, "hello", attempt)


def test_headers_carry_auth_ids_and_a_standard_webhooks_signature() -> None:
    delivery = _delivery(auth_token="tok-123456", secret=WHSEC, headers={"Content-Type": "text/plain"})
    headers = request_headers(delivery, b'{"a":1}', 1_700_000_000.9)
    assert headers["Authorization"] == "Bearer tok-123456" and headers["Content-Type"] == "application/json"
    assert headers["X-Cep-Delivery"] == "tid:0" and headers["X-Cep-Attempt"] == "2"
    assert headers["webhook-id"] == "tid" and headers["webhook-timestamp"] == "1700000000"
    expected = Webhook(WHSEC).sign("tid", datetime.fromtimestamp(1_700_000_000, UTC), '{"a":1}')
    assert headers["webhook-signature"] == expected
    unsigned = request_headers(_delivery(), b"{}", 0)
    assert "Authorization" not in unsigned and "webhook-signature" not in unsigned


def test_a_plain_secret_is_the_key_as_utf8_bytes() -> None:
    headers = request_headers(_delivery(secret=RAW_SECRET), b"{}", 1_700_000_000)
    expected = Webhook(RAW_SECRET.encode()).sign("tid", datetime.fromtimestamp(1_700_000_000, UTC), "{}")
    assert headers["webhook-signature"] == expected


def test_the_message_id_is_the_transition_id_else_the_delivery_id() -> None:
    assert message_id(_delivery()) == "tid"
    assert message_id(_delivery(event={"event_id": "test-1"})) == "tid:0"


def test_the_body_has_the_event_the_message_and_the_delivery_id() -> None:
    assert body(_delivery()) == {
        "id": "tid:0",
        "event_id": "e1",
        "transition_id": "tid",
        "message": "hello",
        "channel": "hook",
        "attempt": 2,
    }


def test_redaction_hides_every_secret_value() -> None:
    delivery = _delivery(auth_token="tok-123456", basic_password="pw-98765")
    secrets = secret_values(delivery.channel)
    assert sorted(secrets) == ["1", "pw-98765", "tok-123456"]  # "1": the value of its header X-A
    assert redact("failed: tok-123456 and pw-98765!", secrets) == "failed: *** and ***!"
    assert len(redact("x" * 5000, secrets)) == 300


def test_every_type_is_deliverable_and_has_a_sender() -> None:
    assert all(t.deliverable for t in TYPES.values())
    assert set(SENDERS) == set(TYPES)
    assert sender_for("webhook") is not None and sender_for("sms") is None


@pytest.mark.parametrize("secret", ["whsec_not*base64", "whsec_"])
def test_a_whsec_secret_must_be_base64(secret: str) -> None:
    with pytest.raises(ChannelValidationError) as caught:
        parse_channel({"name": "h", "type": "webhook", "config": {"url": "http://h/", "secret": secret}})
    assert [e.path for e in caught.value.errors] == ["config.secret"]
    assert "not*base64" not in str(caught.value)
    spec = parse_channel({"name": "h", "type": "webhook", "config": {"url": "http://h/", "secret": WHSEC}})
    assert spec.secrets == {"secret": WHSEC}


def _hook(url: str, **config: Any) -> ChannelEntry:
    full = {"url": url, "method": "POST", "headers": {}, "timeout": "5s", **config}
    return ChannelEntry("t", uuid.uuid4().hex, "ops-hook", "webhook", full, 1)


async def test_a_real_request_verifies_with_the_standardwebhooks_library() -> None:
    transition_id = uuid.uuid4().hex
    event = {"event_id": "e1", "transition_id": transition_id, "severity": "high"}
    with receiver() as hook:
        channel = _hook(hook.url, secret=WHSEC)
        async with httpx.AsyncClient() as client:
            first = await send(client, Delivery(f"{transition_id}:0", channel, event, "hi", 1))
            second = await send(client, Delivery(f"{transition_id}:0", channel, event, "hi", 2))
        requests = hook.wait_for(2)
    assert first.ok and second.ok and first.status_code == 200
    verifier = Webhook(WHSEC)
    for request in requests:
        assert verifier.verify(request.body, request.headers)["transition_id"] == transition_id
    assert [r.headers["webhook-id"] for r in requests] == [transition_id, transition_id]
    assert [r.headers["X-Cep-Attempt"] for r in requests] == ["1", "2"]
    tampered = requests[0].body.replace(b'"hi"', b'"ho"')
    with pytest.raises(WebhookVerificationError):
        verifier.verify(tampered, requests[0].headers)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + base64.b64encode(b"another-key").decode()).verify(requests[0].body, requests[0].headers)


async def test_a_plain_secret_verifies_when_the_verifier_gets_its_bytes() -> None:
    with receiver() as hook:
        async with httpx.AsyncClient() as client:
            outcome = await send(client, Delivery("x:0", _hook(hook.url, secret=RAW_SECRET), {"event_id": "e"}, "m", 1))
        [request] = hook.wait_for(1)
    assert outcome.ok
    assert Webhook(RAW_SECRET.encode()).verify(request.body, request.headers)["message"] == "m"


async def test_failures_are_classified_without_secrets() -> None:
    with receiver(answer=lambda n: 401) as hook:
        async with httpx.AsyncClient() as client:
            denied = await send(client, Delivery("x:0", _hook(hook.url, auth_token="tok-Secret-42"), {}, "m", 1))
    assert (denied.ok, denied.error_kind, denied.status_code) == (False, "auth", 401)
    async with httpx.AsyncClient() as client:
        refused = await send(
            client, Delivery("x:0", _hook("http://127.0.0.1:9/", auth_token="tok-Secret-42"), {}, "m", 1)
        )
    assert refused.error_kind == "network" and "tok-Secret-42" not in str(refused)
