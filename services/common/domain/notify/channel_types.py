"""The channel types this build knows: each type's config fields (required, secret, masked) and their defaults.

Pure: the gateway lists them on `GET /cep/channels/types` and validates bodies against them (channels.py); the
notifier reads the same defaults and timeouts. Fields with a secret part (header values, URL credentials:
`secret_parts`) are shown masked (channel_masks.py) and their real value is kept with the secrets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from services.common.domain.rules.durations import parse_duration

FieldKind = Literal["url", "string", "duration", "headers", "int", "bool", "emails", "template", "choice"]
MAX_TIMEOUT_SECONDS = 60.0  # the notifier's ack wait is longer than this, so a slow send is never redelivered
MAX_ATTEMPTS_LIMIT = 10  # the delivery consumer's max_deliver is above this


@dataclass(frozen=True)
class ConfigField:
    """One config field of a channel type, as `GET /cep/channels/types` lists it."""

    name: str
    kind: FieldKind
    description: str
    required: bool = False
    secret: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()
    # Which parts are secret in a field that is shown masked (`***` in their place); empty: none.
    secret_parts: str = ""

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "required": self.required,
            "secret": self.secret,
            "default": self.default,
            "description": self.description,
        }
        if self.choices:
            out["choices"] = list(self.choices)
        if self.secret_parts:
            out["secret_parts"] = self.secret_parts
        return out


@dataclass(frozen=True)
class ChannelType:
    """A channel type: its fields and whether this build's notifier delivers it yet."""

    name: str
    description: str
    fields: tuple[ConfigField, ...]
    deliverable: bool
    # Fields that only make sense together (a user and its password): each needs the other.
    pairs: tuple[tuple[str, str], ...] = ()

    def field(self, name: str) -> ConfigField | None:
        return next((f for f in self.fields if f.name == name), None)

    @property
    def secret_names(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields if f.secret)

    @property
    def sealed_names(self) -> frozenset[str]:
        """The fields whose real value is kept with the secrets (sealed at rest): secret or with a secret part."""
        return frozenset(f.name for f in self.fields if f.secret or f.secret_parts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.name,
            "description": self.description,
            "deliverable": self.deliverable,
            "fields": [f.as_dict() for f in self.fields],
        }


def _timeout(default: str = "10s") -> ConfigField:
    return ConfigField("timeout", "duration", f"per-attempt timeout, at most {MAX_TIMEOUT_SECONDS:g}s", default=default)


_URL_PARTS = "userinfo, and the values of query parameters named like a token, key, secret, password or signature"


def _url_field(description: str, **extra: Any) -> ConfigField:
    """A URL shown with its credentials masked: `https://***@host/in?api_key=***`."""
    return ConfigField("url", "url", description, secret_parts=_URL_PARTS, **extra)


def _headers_field() -> ConfigField:
    return ConfigField(
        "headers",
        "headers",
        "extra request headers; their values are write-only (shown as '***', which keeps the stored value)",
        secret=True,
        default={},
        secret_parts="values",
    )


def _http_auth() -> tuple[ConfigField, ...]:
    return (
        ConfigField("auth_token", "string", "sent as 'Authorization: Bearer <token>'", secret=True),
        ConfigField("basic_user", "string", "HTTP basic auth user (with basic_password)"),
        ConfigField("basic_password", "string", "HTTP basic auth password", secret=True),
    )


_BASIC = (("basic_user", "basic_password"),)
_SIGNING = (
    "Standard Webhooks signing secret: each request carries webhook-id, webhook-timestamp and "
    "webhook-signature (v1, HMAC-SHA256 of '<id>.<timestamp>.<body>'). A 'whsec_<base64>' secret is "
    "base64-decoded to get the key; any other secret is used as its UTF-8 bytes"
)

# Retry overrides every type accepts (the contract's defaults apply when they are absent).
RETRY_FIELDS = (
    ConfigField("max_attempts", "int", f"attempts in all, 1 to {MAX_ATTEMPTS_LIMIT} (default 6)"),
    ConfigField("retry_initial", "duration", "delay before the first retry (default 1s), doubling after"),
    ConfigField("retry_max", "duration", "longest delay between attempts (default 60s)"),
)

WEBHOOK = ChannelType(
    "webhook",
    "HTTP request with the event as JSON",
    (
        _url_field("http(s) URL the event is sent to", required=True),
        ConfigField("method", "choice", "HTTP method", default="POST", choices=("POST", "PUT", "PATCH")),
        _headers_field(),
        *_http_auth(),
        ConfigField("secret", "string", _SIGNING, secret=True),
        ConfigField(
            "format",
            "choice",
            "body format: 'cep' (the event JSON; when absent) or 'alertmanager' (Alertmanager's webhook body, v4)",
            choices=("cep", "alertmanager"),
        ),
        ConfigField(
            "external_url",
            "url",
            "the product's URL as users open it: the 'alertmanager' format's externalURL and each alert's generatorURL",
        ),
        _timeout(),
        *RETRY_FIELDS,
    ),
    deliverable=True,
    pairs=_BASIC,
)
SLACK = ChannelType(
    "slack",
    "Slack incoming webhook",
    (
        ConfigField(
            "webhook_url",
            "url",
            "the incoming-webhook URL (secret: the URL is the credential)",
            required=True,
            secret=True,
        ),
        ConfigField("channel", "string", "channel override"),
        ConfigField("username", "string", "sender name override"),
        _timeout(),
        *RETRY_FIELDS,
    ),
    deliverable=True,
)
EMAIL = ChannelType(
    "email",
    "email over SMTP",
    (
        ConfigField("host", "string", "SMTP host", required=True),
        ConfigField("port", "int", "SMTP port", default=587),
        ConfigField("starttls", "bool", "upgrade the connection with STARTTLS", default=True),
        ConfigField(
            "tls_verify", "bool", "verify the server's TLS certificate (off only for internal relays)", default=True
        ),
        ConfigField("username", "string", "SMTP user: AUTH is used when set (with password)"),
        ConfigField("password", "string", "SMTP password", secret=True),
        ConfigField("from", "string", "sender address", required=True),
        ConfigField("to", "emails", "recipient addresses", required=True),
        _timeout(),
        *RETRY_FIELDS,
    ),
    deliverable=True,
    pairs=(("username", "password"),),
)
PAGERDUTY = ChannelType(
    "pagerduty",
    "PagerDuty Events API v2",
    (
        ConfigField("routing_key", "string", "integration routing key", required=True, secret=True),
        _url_field("Events API v2 endpoint", default="https://events.pagerduty.com/v2/enqueue"),
        _timeout(),
        *RETRY_FIELDS,
    ),
    deliverable=True,
)
API_CALL = ChannelType(
    "api_call",
    "HTTP request with a templated body",
    (
        _url_field("http(s) URL to call", required=True),
        ConfigField(
            "method", "choice", "HTTP method", default="GET", choices=("GET", "POST", "PUT", "PATCH", "DELETE")
        ),
        _headers_field(),
        ConfigField("body", "template", "request body template (see Templates); not sent with GET or DELETE"),
        *_http_auth(),
        _timeout(),
        *RETRY_FIELDS,
    ),
    deliverable=True,
    pairs=_BASIC,
)
TYPES: dict[str, ChannelType] = {t.name: t for t in (WEBHOOK, SLACK, EMAIL, PAGERDUTY, API_CALL)}


def timeout_seconds(config: Mapping[str, Any], default: float = 10.0) -> float:
    """The per-attempt timeout a channel config asks for (bounded by MAX_TIMEOUT_SECONDS)."""
    text = config.get("timeout")
    seconds = parse_duration(text) if isinstance(text, str) else default
    return min(max(seconds, 0.001), MAX_TIMEOUT_SECONDS)
