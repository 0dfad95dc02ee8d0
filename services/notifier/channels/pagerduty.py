"""The PagerDuty channel: Events API v2 trigger, acknowledge and resolve, de-duplicated by the alert fingerprint.

The fingerprint (tenant, rule, group) is the `dedup_key`, so every change of one alert lands on one PagerDuty
incident: fired/updated trigger it, an ACK acknowledges it, a resolution resolves it. PagerDuty answers 202;
400 means the event is invalid (`config`, not retried), 401/403 a bad routing key (`auth`), 429 and 5xx are
`http` (retried).
"""

from __future__ import annotations

from typing import Any

import httpx

from services.common.domain.notify.channel_types import PAGERDUTY, timeout_seconds
from services.common.messages import codec
from services.notifier.channels.base import Delivery, ErrorKind, Outcome, redact, secret_values
from services.notifier.channels.exchange import failed, post_json

DEFAULT_URL = str(PAGERDUTY.field("url").default)  # type: ignore[union-attr]
ACTIONS = {"fired": "trigger", "updated": "trigger", "acked": "acknowledge", "resolved": "resolve"}
SEVERITIES = {"critical": "critical", "high": "error", "medium": "warning", "low": "info", "info": "info"}
SUMMARY_MAX = 1024  # PagerDuty rejects longer summaries
_HEAD = 2048


def event_action(kind: Any) -> str:
    """The Events API action for a transition kind; anything else (a channel test) triggers."""
    return ACTIONS.get(str(kind), "trigger")


def dedup_key(delivery: Delivery) -> str:
    """The alert fingerprint; a channel test (which has none) uses its event id."""
    event = delivery.event
    return str(event.get("fingerprint") or event.get("event_id") or delivery.delivery_id)


def body(delivery: Delivery) -> dict[str, Any]:
    """The Events API v2 body: a full payload for a trigger; only the key and action to acknowledge or resolve."""
    event = delivery.event
    action = event_action(event.get("kind"))
    out: dict[str, Any] = {
        "routing_key": str(delivery.channel.config.get("routing_key") or ""),
        "event_action": action,
        "dedup_key": dedup_key(delivery),
    }
    if action != "trigger":
        return out
    out["payload"] = {
        "summary": (delivery.message or str(event.get("summary") or "CEP alert"))[:SUMMARY_MAX],
        "source": str(event.get("group_key") or event.get("rule_name") or "cep"),
        "severity": SEVERITIES.get(str(event.get("severity")), "warning"),
        "timestamp": event.get("at") or event.get("fired_at"),
        "component": event.get("rule_name"),
        "custom_details": {
            "rule_id": event.get("rule_id"),
            "event_id": event.get("event_id"),
            "group_key": event.get("group_key"),
            "value": event.get("value"),
            "payload": event.get("payload"),
        },
    }
    out["payload"] = {k: v for k, v in out["payload"].items() if v is not None}
    return out


async def send(client: httpx.AsyncClient, delivery: Delivery) -> Outcome:
    """POST the event to the Events API; classify the answer. Never raises for a failed send."""
    config = delivery.channel.config
    if not config.get("routing_key"):
        return Outcome.failure("config", "routing_key is not set")
    return await post_json(
        client,
        str(config.get("url") or DEFAULT_URL),
        body(delivery),
        content_type="application/json",
        timeout=timeout_seconds(config),
        hidden=secret_values(delivery.channel),
        keep=_HEAD,
        classify=classify,
    )


def classify(status: int, head: bytes, latency_ms: float, hidden: list[str] | None = None) -> Outcome:
    """2xx sent; 400 `config` (with PagerDuty's reasons); 401/403 `auth`; anything else `http` (retried)."""
    if 200 <= status < 300:
        return Outcome(True, status_code=status, latency_ms=latency_ms)
    kind: ErrorKind = "config" if status == 400 else "auth" if status in (401, 403) else "http"
    return failed(kind, status, latency_ms, note=redact(_reasons(head), hidden or []))


def _reasons(head: bytes) -> str:
    """PagerDuty's `message` and `errors` of an error answer (`Event object is invalid: ...`), else ""."""
    try:
        answer = codec.loads(head)
    except ValueError:
        return ""
    if not isinstance(answer, dict):
        return ""
    errors = answer.get("errors")
    parts = [answer.get("message"), *(errors if isinstance(errors, list) else [])]
    return "; ".join(str(p) for p in parts if p)
