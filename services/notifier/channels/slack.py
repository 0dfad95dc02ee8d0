"""The Slack channel: the message to an incoming webhook, with a compact attachment (severity, rule, summary).

The webhook URL is the credential: it is a secret field, and no error detail ever shows it. Slack answers
200 `ok`, or an error status with a short text code (`invalid_token`, `channel_not_found`, ...), which this
module classifies: a revoked or disabled hook is `auth`, a wrong channel or payload `config` (not retried),
rate limits and Slack's own failures `http` (retried).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import httpx

from services.common.domain.notify.channels import timeout_seconds
from services.common.messages import codec
from services.notifier.channels.base import Delivery, ErrorKind, Outcome, redact, secret_values
from services.notifier.channels.exchange import USER_AGENT, Answer, exchange, failed

# Slack's codes for a hook that no longer grants access (the hook, its app or its workspace is gone or barred).
AUTH_CODES = frozenset(
    {
        "invalid_token",
        "no_service",
        "no_service_id",
        "no_team",
        "team_disabled",
        "token_revoked",
        "token_expired",
        "invalid_auth",
        "action_prohibited",
        "no_active_hooks",
        "posting_to_general_channel_denied",
    }
)
# Statuses that say this payload or channel will never be accepted: retrying only delays the news.
CONFIG_STATUSES = frozenset({400, 404, 410})
COLORS = {"critical": "#b00020", "high": "#e8590c", "medium": "#f2c744", "low": "#4c8bf5", "info": "#9e9e9e"}
RESOLVED_COLOR = "#2e7d32"
_CODE = re.compile(r"[a-z_]{2,64}")
_HEAD = 256


def escape(text: Any) -> str:
    """Slack's escaping of `&`, `<`, `>`: event data cannot mention `@channel` or smuggle in a link."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def body(delivery: Delivery) -> dict[str, Any]:
    """The incoming-webhook payload: `text` (the message) and one attachment with the key fields."""
    config, event = delivery.channel.config, delivery.event
    severity = str(event.get("severity") or "info")
    resolved = event.get("kind") == "resolved"
    fields = [
        {"title": "Severity", "value": escape(severity), "short": True},
        {"title": "Rule", "value": escape(event.get("rule_name") or ""), "short": True},
        {"title": "Status", "value": escape(event.get("status") or event.get("kind") or ""), "short": True},
    ]
    if event.get("group_key"):
        fields.append({"title": "Group", "value": escape(event["group_key"]), "short": True})
    fields.append({"title": "Summary", "value": escape(event.get("summary") or ""), "short": False})
    attachment = {
        "color": RESOLVED_COLOR if resolved else COLORS.get(severity, COLORS["info"]),
        "fallback": escape(delivery.message),
        "fields": fields,
        "footer": f"CEP event {escape(event.get('event_id') or '')}",
    }
    out: dict[str, Any] = {"text": escape(delivery.message), "attachments": [attachment]}
    for name in ("channel", "username"):
        if config.get(name):
            out[name] = str(config[name])
    return out


async def send(client: httpx.AsyncClient, delivery: Delivery) -> Outcome:
    """POST the payload to the hook; classify Slack's answer. Never raises for a failed send."""
    config = delivery.channel.config
    url = str(config.get("webhook_url") or "")
    if not url:
        return Outcome.failure("config", "webhook_url is not set")
    hidden = [*secret_values(delivery.channel), url, *_url_parts(url)]
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT}
    answer = await exchange(
        client,
        "POST",
        url,
        headers=headers,
        content=codec.dumps(body(delivery)),
        timeout=timeout_seconds(config),
        hidden=hidden,
        keep=_HEAD,
    )
    if not isinstance(answer, Answer):
        return answer
    return classify(answer.status, answer.head, answer.latency_ms, hidden)


def classify(status: int, head: bytes, latency_ms: float, hidden: list[str] | None = None) -> Outcome:
    """Slack's answer: 2xx sent; an auth code or 401/403 `auth`; 400/404/410 `config`; anything else `http`."""
    if 200 <= status < 300:
        return Outcome(True, status_code=status, latency_ms=latency_ms)
    code = _code(head)
    kind: ErrorKind
    if code in AUTH_CODES or status in (401, 403):
        kind = "auth"
    elif status in CONFIG_STATUSES:
        kind = "config"
    else:
        kind = "http"
    return failed(kind, status, latency_ms, note=redact(code, hidden or []) if code else "")


def _code(head: bytes) -> str:
    """Slack's error code when the answer is one (`invalid_token`); "" for anything else (never echoed)."""
    text = head.decode("utf-8", errors="replace").strip()
    return text if _CODE.fullmatch(text) else ""


def _url_parts(url: str) -> list[str]:
    """The path of a hook URL (`/services/T.../B.../xyz`) and its last segment: each alone reveals the hook."""
    try:
        path = urlsplit(url).path
    except ValueError:
        return []
    return [p for p in (path, path.rsplit("/", 1)[-1]) if len(p) >= 8]
