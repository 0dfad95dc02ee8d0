"""The webhook sender's pure parts: status classification, headers, signature, and redaction."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from services.common.codec import ChannelEntry
from services.common.domain.channels import TYPES
from services.notifier.channels import SENDERS, sender_for
from services.notifier.channels.base import Delivery, redact, secret_values
from services.notifier.channels.webhook import body, classify, request_headers, sign


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


def _delivery(**config: object) -> Delivery:
    channel = ChannelEntry("t", "c1", "hook", "webhook", {"url": "http://h/", "headers": {"X-A": "1"}, **config}, 1)
    return Delivery("tid:0", channel, {"event_id": "e1"}, "hello", 2)


def test_headers_carry_auth_ids_and_a_verifiable_signature() -> None:
    delivery = _delivery(auth_token="tok-123456", secret="key-123456", headers={"Content-Type": "text/plain"})
    headers = request_headers(delivery, b'{"a":1}', 1_700_000_000.9)
    assert headers["Authorization"] == "Bearer tok-123456" and headers["Content-Type"] == "application/json"
    assert headers["X-Cep-Delivery"] == "tid:0" and headers["X-Cep-Attempt"] == "2"
    assert headers["X-Cep-Timestamp"] == "1700000000"
    expected = hmac.new(b"key-123456", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    assert headers["X-Cep-Signature"] == f"sha256={expected}" == sign("key-123456", "1700000000", b'{"a":1}')
    assert "Authorization" not in request_headers(_delivery(), b"{}", 0)


def test_the_body_has_the_event_the_message_and_the_delivery_id() -> None:
    assert body(_delivery()) == {"id": "tid:0", "event_id": "e1", "message": "hello", "channel": "hook", "attempt": 2}


def test_redaction_hides_every_secret_value() -> None:
    delivery = _delivery(auth_token="tok-123456", basic_password="pw-98765")
    secrets = secret_values(delivery.channel)
    assert sorted(secrets) == ["pw-98765", "tok-123456"]
    assert redact("failed: tok-123456 and pw-98765!", secrets) == "failed: *** and ***!"
    assert len(redact("x" * 5000, secrets)) == 300


def test_the_registry_delivers_exactly_the_types_marked_deliverable() -> None:
    assert set(SENDERS) == {name for name, t in TYPES.items() if t.deliverable}
    assert sender_for("webhook") is not None and sender_for("slack") is None
