"""The email channel: a plain-text message over SMTP, with STARTTLS and AUTH, failures classified.

Subject `[<severity>] <rule_name>: <summary>`; the body is the rendered message, then the key fields.
The TCP connection can go to another address than `host` (`connect_host`: the egress guard's checked IP)
while STARTTLS still verifies the certificate for `host`, so a vetted address cannot weaken TLS.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

import aiosmtplib
import httpx

from services.common.domain.notify.channel_types import timeout_seconds
from services.common.messages import codec
from services.notifier.channels.base import Delivery, ErrorKind, Outcome, redact, secret_values
from services.notifier.channels.exchange import since

DEFAULT_PORT = 587
SUBJECT_MAX = 200
AUTH_CODES = frozenset({530, 534, 535, 538})  # authentication required / too weak / failed / needs encryption
_GRACE = 0.5  # aiosmtplib bounds each command by the timeout; the whole attempt gets this much more


def subject(event: Mapping[str, Any]) -> str:
    """`[high] cpu_high_alert: cpu_usage > 85 for 5m`, on one line and at most SUBJECT_MAX characters."""
    text = f"[{event.get('severity') or 'info'}] {event.get('rule_name') or 'alert'}: {event.get('summary') or ''}"
    return " ".join(text.split())[:SUBJECT_MAX]


def text_body(delivery: Delivery) -> str:
    """The rendered message, then the fields a reader needs without opening the UI."""
    event = delivery.event
    rows = [
        ("Rule", f"{event.get('rule_name') or ''} ({event.get('rule_id') or ''})"),
        ("Severity", event.get("severity")),
        ("Status", event.get("status") or event.get("kind")),
        ("Group", event.get("group_key")),
        ("Summary", event.get("summary")),
        ("Fired at", event.get("fired_at")),
        ("Value", event.get("value")),
        ("Event id", event.get("event_id")),
        ("Payload", codec.dumps(event.get("payload") or {}).decode()),
    ]
    fields = "\n".join(f"{name + ':':<10} {value}" for name, value in rows if value not in (None, ""))
    return f"{delivery.message}\n\n{fields}\n"


def message(delivery: Delivery, now: datetime) -> EmailMessage:
    """The message; ValueError for a header that cannot be written (a line break in `from`, say)."""
    config = delivery.channel.config
    sender = str(config["from"])
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = ", ".join(str(a) for a in config["to"])
    mail["Subject"] = subject(delivery.event)
    mail["Date"] = format_datetime(now)
    mail["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "cep.invalid")
    mail["X-Cep-Delivery"] = delivery.delivery_id
    mail.set_content(text_body(delivery))
    return mail


async def send(
    client: httpx.AsyncClient,
    delivery: Delivery,
    *,
    connect_host: str | None = None,
    tls_context: ssl.SSLContext | None = None,
) -> Outcome:
    """Send the message once; classify whatever happens. Never raises for a failed send.

    `client` is unused (the pipeline's sender signature); `connect_host` is the address to connect to instead of
    resolving `host`; `tls_context` replaces the default one (the system's trust store, or none with
    `tls_verify: false`).
    """
    config = delivery.channel.config
    hidden = secret_values(delivery.channel)
    try:
        mail = message(delivery, datetime.now(UTC))
    except (KeyError, TypeError, ValueError) as exc:
        return Outcome.failure("config", redact(f"cannot build the message: {exc}", hidden))
    limit = timeout_seconds(config)
    started = time.perf_counter()
    try:
        async with asyncio.timeout(limit + _GRACE):
            refused = await _deliver(mail, config, limit, connect_host, tls_context or _context(config))
    except Exception as exc:  # every failure becomes an outcome: none may crash the consumer
        kind, detail = classify(exc, limit)
        return Outcome.failure(kind, redact(detail, hidden), latency_ms=since(started))
    partly = f"refused {len(refused)} of {len(config['to'])} recipients" if refused else None
    return Outcome(True, latency_ms=since(started), detail=partly)


async def _deliver(
    mail: EmailMessage, config: Mapping[str, Any], limit: float, connect_host: str | None, context: ssl.SSLContext
) -> dict[str, Any]:
    host, port = str(config["host"]), int(config.get("port") or DEFAULT_PORT)
    sock = await _connect(connect_host, port, limit) if connect_host else None
    try:
        smtp = aiosmtplib.SMTP(
            hostname=host,
            port=None if sock else port,
            sock=sock,
            local_hostname=socket.gethostname() or "localhost",  # getfqdn() would wait on DNS
            timeout=limit,
            start_tls=bool(config.get("starttls", True)),
            tls_context=context,
            username=str(config["username"]) if config.get("username") else None,
            password=str(config.get("password") or "") if config.get("username") else None,
        )
    except BaseException:
        if sock is not None:
            sock.close()
        raise
    async with smtp:
        refused, _ = await smtp.send_message(mail, sender=str(config["from"]), recipients=list(config["to"]))
    return dict(refused)


async def _connect(address: str, port: int, limit: float) -> socket.socket:
    """A TCP connection to an address (an IP the caller vetted), so the SMTP session never resolves `host`."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, (address, port)), limit)
    except BaseException:
        sock.close()
        raise
    return sock


def _context(config: Mapping[str, Any]) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if config.get("tls_verify") is False:  # an internal relay with a self-signed certificate
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def classify(exc: BaseException, limit: float) -> tuple[ErrorKind, str]:
    """The kind and detail of a failed SMTP session (the detail still needs redaction)."""
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return "auth", f"authentication failed: SMTP {exc.code} {exc.message}"
    if isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code in AUTH_CODES:
        if "STARTTLS" in exc.message.upper():  # "530 Must issue a STARTTLS command first"
            return "config", f"the server wants STARTTLS (set starttls): SMTP {exc.code} {exc.message}"
        return "auth", f"the server wants authentication: SMTP {exc.code} {exc.message}"
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = sorted({str(e.code) for e in exc.recipients})
        return "config", f"every recipient was refused (SMTP {', '.join(codes)})"
    if isinstance(exc, aiosmtplib.SMTPSenderRefused | aiosmtplib.SMTPRecipientRefused):
        return "config", f"refused: SMTP {exc.code} {exc.message}"
    if isinstance(exc, TimeoutError):  # aiosmtplib's timeouts are TimeoutErrors too
        return "timeout", f"no answer within {limit:g}s"
    if isinstance(exc, aiosmtplib.SMTPResponseException):  # a refused greeting, a rejected message
        return "http", f"SMTP {exc.code} {exc.message}"
    if isinstance(exc, aiosmtplib.SMTPConnectError | aiosmtplib.SMTPServerDisconnected | OSError):
        return "network", f"{type(exc).__name__}: {exc}"
    if isinstance(exc, aiosmtplib.SMTPException):  # STARTTLS or AUTH not offered: the config asks for them
        return "config", str(exc)
    if isinstance(exc, ValueError | LookupError | TypeError):
        return "config", f"invalid settings: {type(exc).__name__}: {exc}"
    return "network", type(exc).__name__
