"""The api_call channel: any HTTP request, with a body rendered from a template; the answer's start is recorded.

The body template sees the same context as messages (every Event field, `rule`, `event`); a template that does
not render fails the attempt with kind `template` before any connection. GET and DELETE send no body. The
answer's status and its first bytes (secrets redacted) go into the outcome, whatever the status.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import httpx

from services.common.domain.notify.channel_types import timeout_seconds
from services.common.domain.notify.templates import TemplateError, render, template_context
from services.common.messages import codec
from services.common.template_pool import off_loop
from services.notifier.channels.base import EXCERPT_BYTES, Delivery, Outcome, excerpt, redact, secret_values
from services.notifier.channels.exchange import USER_AGENT, Answer, auth_header, classify, exchange

BODYLESS = frozenset({"GET", "DELETE", "HEAD"})


def rule_of(delivery: Delivery) -> dict[str, Any]:
    """The template's `rule`: the one the pipeline passed, else what the event says about its rule."""
    if delivery.rule is not None:
        return dict(delivery.rule)
    event = delivery.event
    known = {
        "rule_id": event.get("rule_id"),
        "name": event.get("rule_name"),
        "severity": event.get("severity"),
        "priority": event.get("priority"),
        "trigger_type": event.get("trigger_type"),
        "version": event.get("rule_version"),
    }
    return {k: v for k, v in known.items() if v is not None}


def request_body(delivery: Delivery, method: str) -> bytes | None:
    """The rendered body (None for GET/DELETE or without a template); TemplateError when it cannot render."""
    template = delivery.channel.config.get("body")
    if method in BODYLESS or not template:
        return None
    return render(str(template), template_context(delivery.event, rule_of(delivery))).encode()


def request_headers(config: Mapping[str, Any], content: bytes | None) -> dict[str, str]:
    """The channel's headers, a content type guessed for a body that has none (JSON if it parses), and auth."""
    headers = {"User-Agent": USER_AGENT, **{str(k): str(v) for k, v in (config.get("headers") or {}).items()}}
    if content is not None and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = "application/json" if _is_json(content) else "text/plain; charset=utf-8"
    auth = auth_header(config)
    if auth:
        headers["Authorization"] = auth
    return headers


async def send(client: httpx.AsyncClient, delivery: Delivery) -> Outcome:
    """Render the body, make the call, and record the status and the answer's first bytes."""
    config = delivery.channel.config
    hidden = secret_values(delivery.channel)
    method = str(config.get("method") or "GET").upper()
    try:
        content = await off_loop(request_body, delivery, method)
    except TemplateError as exc:
        return Outcome.failure("template", redact(f"body: {exc.detail}", hidden))
    headers = request_headers(config, content)
    hidden = [*hidden, headers.get("Authorization", "")]
    answer = await exchange(
        client,
        method,
        str(config["url"]),
        headers=headers,
        content=content,
        timeout=timeout_seconds(config),
        hidden=hidden,
        keep=EXCERPT_BYTES + max((len(s) for s in hidden), default=0),
    )
    if not isinstance(answer, Answer):
        return answer
    return replace(classify(answer.status, answer.latency_ms), excerpt=excerpt(answer.head, hidden))


def _is_json(content: bytes) -> bool:
    try:
        codec.loads(content)
    except ValueError:
        return False
    return True
