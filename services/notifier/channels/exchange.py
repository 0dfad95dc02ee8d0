"""One HTTP request and its answer for the HTTP channel types: the attempt bounded, transport failures classified.

Every HTTP sender (webhook, slack, pagerduty, api_call) goes through `exchange`, so a timeout, a refused
connection or a bad URL reads the same whatever the channel, and no error text carries a secret. Redirects are
followed only as the shared client is configured (the notifier's client follows none).
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import httpx

from services.common.egress import EgressRefused
from services.common.messages import codec
from services.notifier.channels.base import ErrorKind, Outcome, redact

USER_AGENT = "cep-notifier/1"
_GRACE = 0.5  # httpx bounds each phase by the timeout; the whole attempt gets this much more


@dataclass(frozen=True)
class Answer:
    """The status of an answer, how long it took, and the first bytes of its body (as many as asked for)."""

    status: int
    latency_ms: float
    head: bytes = b""


async def exchange(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str],
    content: bytes | None,
    timeout: float,
    hidden: Sequence[str],
    keep: int = 0,
) -> Answer | Outcome:
    """Send one request and read at most `keep` bytes of the answer; an Outcome of kind timeout/config/network
    when no answer came. `hidden` are the strings no error detail may show (secrets, auth headers)."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout + _GRACE):
            request = client.build_request(method, url, content=content, headers=dict(headers), timeout=timeout)
            response = await client.send(request, stream=True)  # only `keep` bytes are read: any size is fine
            try:
                head = await _read_head(response, keep)
            finally:
                await response.aclose()
    except (TimeoutError, httpx.TimeoutException):
        return Outcome.failure("timeout", f"no answer within {timeout:g}s", latency_ms=since(started))
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        return Outcome.failure("config", redact(f"invalid URL: {exc}", hidden))
    except EgressRefused as exc:  # refused before any connection; a TransportError, so it must come first
        return Outcome.failure("egress", redact(exc.reason, hidden))
    except httpx.TransportError as exc:
        detail = redact(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, hidden)
        return Outcome.failure("network", detail, latency_ms=since(started))
    return Answer(response.status_code, since(started), head)


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    payload: Any,
    *,
    content_type: str,
    timeout: float,
    hidden: list[str],
    keep: int,
    classify: Callable[[int, bytes, float, list[str]], Outcome],
) -> Outcome:
    """POST `payload` as JSON and judge the answer with the channel's own `classify` (status, head, latency)."""
    headers = {"Content-Type": content_type, "User-Agent": USER_AGENT}
    content = codec.dumps(payload)
    answer = await exchange(
        client, "POST", url, headers=headers, content=content, timeout=timeout, hidden=hidden, keep=keep
    )
    if not isinstance(answer, Answer):
        return answer
    return classify(answer.status, answer.head, answer.latency_ms, hidden)


async def _read_head(response: httpx.Response, keep: int) -> bytes:
    if keep <= 0:
        return b""
    head = b""
    async for chunk in response.aiter_bytes():
        head += chunk
        if len(head) >= keep:
            break
    return head[:keep]


def classify(status: int, latency_ms: float, *, note: str = "") -> Outcome:
    """2xx is sent; 401/403 an `auth` failure; any other status an `http` failure (retried)."""
    if 200 <= status < 300:
        return Outcome(True, status_code=status, latency_ms=latency_ms)
    kind: ErrorKind = "auth" if status in (401, 403) else "http"
    return failed(kind, status, latency_ms, note=note)


def failed(kind: ErrorKind, status: int, latency_ms: float, *, note: str = "") -> Outcome:
    """A failure for an answer: `HTTP 404 Not Found` plus what the answer said (`note`, already redacted)."""
    detail = f"HTTP {status} {phrase(status)}".rstrip() + (f": {note}" if note else "")
    return Outcome.failure(kind, detail, status_code=status, latency_ms=latency_ms)


def phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def auth_header(config: Mapping[str, Any]) -> str | None:
    """`Authorization` for a config's `auth_token` (Bearer) or `basic_user`/`basic_password` (Basic)."""
    if config.get("auth_token"):
        return f"Bearer {config['auth_token']}"
    if config.get("basic_user"):
        pair = f"{config['basic_user']}:{config.get('basic_password') or ''}".encode()
        return "Basic " + base64.b64encode(pair).decode()
    return None


def since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
