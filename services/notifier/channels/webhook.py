"""The webhook channel: the event as JSON over HTTP, with bearer or basic auth, signed per Standard Webhooks.

`format: alertmanager` sends Alertmanager's webhook body (version 4) instead of the event JSON
(services/common/domain/notify/alertmanager_webhook.py), so receivers written for Alertmanager work unchanged.

With a `secret`, every request carries `webhook-id` (the transition id: the same on every attempt, so a
receiver de-duplicates with it), `webhook-timestamp` (unix seconds) and `webhook-signature`
(`v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`): any Standard Webhooks verifier checks it.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from services.common.domain.notify import alertmanager_webhook
from services.common.domain.notify.channel_types import timeout_seconds
from services.common.domain.notify.signing import sign, signing_key
from services.common.messages import codec
from services.notifier.channels.base import Delivery, Outcome, secret_values
from services.notifier.channels.exchange import USER_AGENT, Answer, auth_header, classify, exchange

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
DELIVERY_HEADER = "X-Cep-Delivery"  # transition id + action index: the same on every attempt
ATTEMPT_HEADER = "X-Cep-Attempt"

__all__ = ["alertmanager_body", "body", "classify", "message_id", "request_headers", "send"]


def body(delivery: Delivery) -> dict[str, Any]:
    """The JSON body: every event field, the rendered message, and which channel and attempt this is; or, with
    `format: alertmanager`, Alertmanager's webhook body for the event or the batch."""
    if delivery.channel.config.get("format") == "alertmanager":
        return alertmanager_body(delivery)
    return {
        "id": delivery.delivery_id,
        **delivery.event,
        "message": delivery.message,
        "channel": delivery.channel.name,
        "attempt": delivery.attempt,
    }


def alertmanager_body(delivery: Delivery) -> dict[str, Any]:
    """Alertmanager's webhook body: a batch's members as its alerts, or the one event with its rendered message."""
    event, config = delivery.event, delivery.channel.config
    external_url = str(config.get("external_url") or "")
    members = event.get("alerts")
    if event.get("kind") == "group" and isinstance(members, list) and event.get("route_key") is not None:
        return alertmanager_webhook.body(
            members,
            receiver=delivery.channel.name,
            group_labels=event.get("group_labels") or {},
            route_key=str(event["route_key"]),
            external_url=external_url,
            truncated=int(event.get("dropped") or 0),
        )
    if event.get("kind") == "group" and isinstance(members, list):
        return alertmanager_webhook.body(
            members,
            receiver=delivery.channel.name,
            group_names=alertmanager_webhook.group_names_of(event.get("group_key")),
            external_url=external_url,
            truncated=int(event.get("dropped") or 0),
        )
    return alertmanager_webhook.body(
        [event], receiver=delivery.channel.name, messages=[delivery.message], external_url=external_url
    )


def message_id(delivery: Delivery) -> str:
    """The `webhook-id`: the transition id (a channel test, which has none, uses its delivery id)."""
    return str(delivery.event.get("transition_id") or delivery.delivery_id)


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
    auth = auth_header(config)
    if auth:
        headers["Authorization"] = auth
    # The id and time always go out (receivers de-duplicate with the id); the signature needs a `secret`.
    msg_id, stamp = message_id(delivery), int(now)
    headers[ID_HEADER] = msg_id
    headers[TIMESTAMP_HEADER] = str(stamp)
    if config.get("secret"):
        headers[SIGNATURE_HEADER] = sign(signing_key(str(config["secret"])), msg_id, stamp, content)
    return headers


async def send(client: httpx.AsyncClient, delivery: Delivery) -> Outcome:
    """POST (or the configured method) the event; classify whatever happens. Never raises for a failed send."""
    config = delivery.channel.config
    content = codec.dumps(body(delivery))
    try:
        headers = request_headers(delivery, content, time.time())
    except ValueError as exc:  # a `whsec_` secret that is not base64 (validation stops these; old configs may not)
        return Outcome.failure("config", f"secret: {exc}")
    limit = timeout_seconds(config)
    hidden = [*secret_values(delivery.channel), headers.get("Authorization", "")]
    method, url = str(config.get("method") or "POST"), str(config["url"])
    answer = await exchange(client, method, url, headers=headers, content=content, timeout=limit, hidden=hidden)
    if not isinstance(answer, Answer):
        return answer
    return classify(answer.status, answer.latency_ms)
