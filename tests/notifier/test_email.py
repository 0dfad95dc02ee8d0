"""The email sender against a real SMTP server (aiosmtpd): plain, AUTH, STARTTLS with a certificate made here
(trustme), a vetted connect address that keeps the TLS hostname, and every failure kind."""

from __future__ import annotations

import socket
import ssl
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

import httpx
import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from services.common.cli.procs import free_port
from services.common.messages.channels import ChannelEntry
from services.notifier.channels.base import Delivery, Outcome
from services.notifier.channels.email import send, subject

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
PASSWORD = "smtp-Very-Secret-0815"
MAIL_HOST = "mail.test.invalid"  # never resolvable: only a vetted connect address reaches it
EVENT: dict[str, Any] = {
    "event_id": "e1",
    "rule_id": "r1",
    "rule_name": "cpu_high_alert",
    "severity": "high",
    "status": "open",
    "group_key": "host=gt-01",
    "summary": "cpu_usage > 85\nfor 5m",
    "fired_at": "2025-05-01T12:00:00Z",
    "value": 92,
    "payload": {"host": "gt-01", "cpu_usage": 92},
}


@dataclass
class Inbox:
    """What the SMTP server accepted, and whether each session ran over TLS."""

    messages: list[Message] = field(default_factory=list)
    envelopes: list[tuple[str, list[str], bool]] = field(default_factory=list)
    refuse: frozenset[str] = frozenset()

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos), session.ssl is not None))
        return "250 OK"


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"cep", PASSWORD.encode())
    return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535 itself


@contextmanager
def smtp_server(inbox: Inbox, **smtp: Any) -> Iterator[int]:
    """A real aiosmtpd server on 127.0.0.1 (its own thread and loop); yields its port."""
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **smtp)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _tls_server(ca: trustme.CA, names: list[str]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(MAIL_HOST, "localhost", "127.0.0.1").configure_cert(context)
    context.sni_callback = lambda _sock, name, _ctx: names.append(str(name)) or None  # type: ignore[func-returns-value]
    return context


def _delivery(port: int, **config: Any) -> Delivery:
    full = {
        "host": "127.0.0.1",
        "port": port,
        "starttls": False,
        "tls_verify": True,
        "from": "cep@example.org",
        "to": ["ops@example.org", "sre@example.org"],
        "timeout": "5s",
        **config,
    }
    entry = ChannelEntry("t", uuid.uuid4().hex, "mail", "email", full, 1)
    return Delivery("tid:1", entry, EVENT, "CPU 92 on gt-01", 1)


async def _send(delivery: Delivery, **kwargs: Any) -> Outcome:
    async with httpx.AsyncClient() as client:
        return await send(client, delivery, **kwargs)


def test_the_subject_is_one_bounded_line() -> None:
    assert subject(EVENT) == "[high] cpu_high_alert: cpu_usage > 85 for 5m"
    assert len(subject({**EVENT, "summary": "x" * 1000})) == 200


async def test_a_plain_message_is_received_with_subject_and_fields() -> None:
    inbox = Inbox()
    with smtp_server(inbox) as port:
        outcome = await _send(_delivery(port))
    assert outcome.ok and outcome.error is None and outcome.latency_ms is not None
    [mail] = inbox.messages
    assert inbox.envelopes == [("cep@example.org", ["ops@example.org", "sre@example.org"], False)]
    assert mail["Subject"] == "[high] cpu_high_alert: cpu_usage > 85 for 5m"
    assert mail["From"] == "cep@example.org" and mail["To"] == "ops@example.org, sre@example.org"
    assert mail["X-Cep-Delivery"] == "tid:1" and mail["Message-ID"].endswith("@example.org>")
    text = mail.get_payload(decode=True).decode().replace("\r\n", "\n")  # type: ignore[union-attr]
    assert text.startswith("CPU 92 on gt-01\n")
    assert "Rule:      cpu_high_alert (r1)" in text and "Severity:  high" in text
    assert 'Payload:   {"host":"gt-01","cpu_usage":92}' in text


async def test_auth_with_the_right_and_the_wrong_password() -> None:
    inbox = Inbox()
    auth = {"authenticator": _authenticator, "auth_required": True, "auth_require_tls": False}
    with smtp_server(inbox, **auth) as port:
        good = await _send(_delivery(port, username="cep", password=PASSWORD))
        bad = await _send(_delivery(port, username="cep", password="wrong-Password-1"))
        anonymous = await _send(_delivery(port))
    assert good.ok and len(inbox.messages) == 1
    assert (bad.ok, bad.error_kind) == (False, "auth") and "535" in str(bad.detail)
    assert "wrong-Password-1" not in str(bad) and PASSWORD not in str(good)
    assert (anonymous.ok, anonymous.error_kind) == (False, "auth") and "530" in str(anonymous.detail)


async def test_starttls_with_tls_verify_off_for_a_self_signed_relay(ca: trustme.CA) -> None:
    inbox = Inbox()
    tls = {"tls_context": _tls_server(ca, []), "require_starttls": True}
    with smtp_server(inbox, **tls) as port:
        relaxed = await _send(_delivery(port, starttls=True, tls_verify=False))
        strict = await _send(_delivery(port, starttls=True))  # the system trust store does not know the test CA
        plain = await _send(_delivery(port, starttls=False))
    assert relaxed.ok and inbox.envelopes[0][2] is True
    assert (strict.ok, strict.error_kind) == (False, "network") and "CERTIFICATE_VERIFY_FAILED" in str(strict.detail)
    assert (plain.ok, plain.error_kind) == (False, "config") and "starttls" in str(plain.detail)  # 530 STARTTLS first
    assert len(inbox.messages) == 1


async def test_a_vetted_connect_address_keeps_the_tls_hostname(ca: trustme.CA) -> None:
    inbox, names = Inbox(), list[str]()
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    tls = {"tls_context": _tls_server(ca, names), "require_starttls": True}
    with smtp_server(inbox, **tls) as port:
        delivery = _delivery(port, host=MAIL_HOST, starttls=True)
        outcome = await _send(delivery, connect_host="127.0.0.1", tls_context=client_context)
        unvetted = await _send(delivery, tls_context=client_context)  # MAIL_HOST itself does not resolve
    assert outcome.ok and names == [MAIL_HOST] and inbox.envelopes[0][2] is True
    assert (unvetted.ok, unvetted.error_kind) in {(False, "network"), (False, "timeout")}


async def test_refused_recipients_are_a_config_error_and_some_refused_is_sent() -> None:
    inbox = Inbox(refuse=frozenset({"ops@example.org", "sre@example.org"}))
    with smtp_server(inbox) as port:
        refused = await _send(_delivery(port))
        partly = await _send(_delivery(port, to=["ops@example.org", "dev@example.org"]))
    assert (refused.ok, refused.error_kind) == (False, "config") and "550" in str(refused.detail)
    assert partly.ok and partly.detail == "refused 1 of 2 recipients"
    assert inbox.envelopes == [("cep@example.org", ["dev@example.org"], False)]


async def test_starttls_asked_of_a_server_without_it_is_a_config_error() -> None:
    with smtp_server(Inbox()) as port:
        outcome = await _send(_delivery(port, starttls=True))
    assert (outcome.ok, outcome.error_kind) == (False, "config") and "STARTTLS" in str(outcome.detail)


async def test_a_closed_port_is_network_and_a_silent_server_a_timeout() -> None:
    refused = await _send(_delivery(free_port()))
    assert (refused.ok, refused.error_kind) == (False, "network")
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts the connection, never greets
        outcome = await _send(_delivery(silent.getsockname()[1], timeout="300ms"))
    assert (outcome.ok, outcome.error_kind) == (False, "timeout") and outcome.detail == "no answer within 0.3s"


async def test_a_line_break_in_from_is_a_config_error_before_any_connection() -> None:
    outcome = await _send(_delivery(free_port(), **{"from": "cep@example.org\r\nBcc: x@evil.test"}))
    assert (outcome.ok, outcome.error_kind) == (False, "config") and outcome.latency_ms is None
