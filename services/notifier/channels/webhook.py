"""The webhook channel: the event as JSON over HTTP, with bearer or basic auth and an optional HMAC signature."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import httpx

from services.common import codec
from services.common.domain.channels import timeout_seconds
from services.notifier.channels.base import Delivery, ErrorKind, Outcome, redact, secret_values

USER_AGENT = "cep-notifier/1"
SIGNATURE_HEADER = "X-Cep-Signature"  # sha256=<hex HMAC of "<timestamp>.<body>"> keyed by the channel's `secret`
TIMESTAMP_HEADER = "X-Cep-Timestamp"
DELIVERY_HEADER = "X-Cep-Delivery"  # the same id on every attempt: receivers de-duplicate with it
ATTEMPT_HEADER = "X-Cep-Attempt"


def body(delivery: Delivery) -> dict[str, Any]:
    """The JSON body: every event field, the rendered message, and which channel and attempt this is."""
    return {
        "id": delivery.delivery_id,
        **delivery.event,
        "message": delivery.message,
        "channel": delivery.channel.name,
        "attempt": delivery.attempt,
    }


def sign(secret: str, timestamp: str, content: bytes) -> str:
    """The signature header value: HMAC-SHA256 over `<timestamp>.<body>` (the timestamp stops replays)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + content, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def _auth_header(config: Mapping[str, Any]) -> str | None:
    if config.get("auth_token"):
        return f"Bearer {config['auth_token']}"
    if config.get("basic_user"):
        pair = f"{config['basic_user']}:{config.get('basic_password') or ''}".encode()
        return "Basic " + base64.b64encode(pair).decode()
    return None


def request_headers(delivery: Delivery, content: bytes, now: float) -> dict[str, str]:
    """The request headers: the channel's own, then ours (ours win: the content type and ids must be right)."""
    config = delivery.channel.config
    headers = {str(k): str(v) for k, v in (config.get("headers") or {}).items()}
    headers.update(
        {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            DELIVERY_HEADER: delivery.delivery_id,
            ATTEMPT_HEADER: str(delivery.attempt),
        }
    )
    auth = _auth_header(config)
    if auth:
        headers["Authorization"] = auth
    if config.get("secret"):
        stamp = str(int(now))
        headers[TIMESTAMP_HEADER] = stamp
        headers[SIGNATURE_HEADER] = sign(str(config["secret"]), stamp, content)
    return headers


async def send(client: httpx.AsyncClient, delivery: Delivery) -> Outcome:
    """POST (or the configured method) the event; classify whatever happens. Never raises for a failed send."""
    config = delivery.channel.config
    content = codec.dumps(body(delivery))
    headers = request_headers(delivery, content, time.time())
    limit = timeout_seconds(config)
    hidden = [*secret_values(delivery.channel), headers.get("Authorization", "")]
    started = time.perf_counter()
    try:
        async with asyncio.timeout(limit + 0.5):  # httpx bounds each phase; this bounds the whole attempt
            request = client.build_request(
                str(config.get("method") or "POST"), str(config["url"]), content=content, headers=headers, timeout=limit
            )
            response = await client.send(request, stream=True)  # the answer's body is never read: any size is fine
            await response.aclose()
    except (TimeoutError, httpx.TimeoutException):
        return Outcome.failure("timeout", f"no answer within {limit:g}s", latency_ms=_since(started))
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        return Outcome.failure("config", redact(f"invalid URL: {exc}", hidden))
    except httpx.TransportError as exc:
        detail = redact(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, hidden)
        return Outcome.failure("network", detail, latency_ms=_since(started))
    return classify(response.status_code, _since(started))


def classify(status: int, latency_ms: float) -> Outcome:
    """2xx is sent; 401/403 an `auth` failure; any other status an `http` failure."""
    if 200 <= status < 300:
        return Outcome(True, status_code=status, latency_ms=latency_ms)
    kind: ErrorKind = "auth" if status in (401, 403) else "http"
    return Outcome.failure(kind, f"HTTP {status} {_phrase(status)}".rstrip(), status_code=status, latency_ms=latency_ms)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
