"""Channel types and their config fields (which are required, which are secret), and channel validation.

Pure: the gateway validates bodies with it and lists it on `GET /cep/channels/types`; the notifier reads the
same defaults. Secret fields are write-only: they are kept apart from the public config, never echoed in an
error, and a write that leaves one out keeps the stored value (an explicit `null` clears it). Fields with a
secret part (header values, URL credentials: `secret_parts`) are shown masked (channel_masks.py) and their
real value is kept with the secrets.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from services.common.domain.notify.channel_masks import mask_headers, mask_url, unmask_headers, unmask_url, url_secrets
from services.common.domain.notify.signing import signing_key
from services.common.domain.notify.templates import check as template_syntax_error
from services.common.domain.rules.durations import parse_duration
from services.common.domain.rules.errors import FieldError

FieldKind = Literal["url", "string", "duration", "headers", "int", "bool", "emails", "template", "choice"]
MAX_TIMEOUT_SECONDS = 60.0  # the notifier's ack wait is longer than this, so a slow send is never redelivered
MAX_ATTEMPTS_LIMIT = 10  # the delivery consumer's max_deliver is above this
NAME_MAX = 200
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")
_MAX_HEADERS = 50
_MAX_TEXT = 4096
_EMAIL = re.compile(r"[^\s@<>,;]{1,256}@[^\s@<>,;]{1,255}")  # loose: no spaces, separators or line breaks


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


@dataclass(frozen=True)
class ChannelSpec:
    """A validated channel: the public config (defaults filled in) and the secrets, kept apart."""

    name: str
    type: str
    config: dict[str, Any]
    secrets: dict[str, Any] = field(default_factory=dict)  # strings; `headers` is a name -> value object

    @property
    def secrets_set(self) -> list[str]:
        """The names of the secret fields that hold a value (what the API shows instead of the values)."""
        return sorted(self.secrets)

    def full_config(self) -> dict[str, Any]:
        """Public config and secrets together: what the notifier needs to deliver."""
        return {**self.config, **self.secrets}


@dataclass
class ChannelValidationError(Exception):
    """A channel body that cannot be accepted; `errors` names every offending field (never a secret value)."""

    errors: list[FieldError]

    def __str__(self) -> str:
        return "; ".join(f"{e.path}: {e.msg}" for e in self.errors)


READ_ONLY = frozenset({"channel_id", "tenant", "version", "created_at", "updated_at", "secrets_set"})


def parse_channel(body: Any, stored_secrets: Mapping[str, Any] | None = None) -> ChannelSpec:
    """Validate a `{"name","type","config"}` body; `stored_secrets` are kept where the body leaves a secret out.

    Read-only fields of a channel as GET returns it are ignored, so a read-modify-write round trip works.
    """
    if not isinstance(body, Mapping):
        raise ChannelValidationError([FieldError((), "the body must be a JSON object")])
    errors: list[FieldError] = []
    for key in body:
        if key not in {"name", "type", "config"} | READ_ONLY:
            errors.append(FieldError((str(key),), "unknown field"))
    name = _name(body.get("name"), errors)
    kind = body.get("type")
    channel_type = TYPES.get(kind) if isinstance(kind, str) else None
    if channel_type is None:
        errors.append(FieldError(("type",), f"must be one of: {', '.join(TYPES)}"))
    config = body.get("config", {})
    if config is None:
        config = {}
    if not isinstance(config, Mapping):
        errors.append(FieldError(("config",), "must be an object"))
    if errors or channel_type is None or not isinstance(config, Mapping):
        raise ChannelValidationError(errors)
    public, secrets = _config(channel_type, config, stored_secrets or {}, errors)
    if errors:
        raise ChannelValidationError(errors)
    return ChannelSpec(name=name, type=channel_type.name, config=public, secrets=secrets)


def _name(value: Any, errors: list[FieldError]) -> str:
    if not isinstance(value, str) or not value.strip():
        errors.append(FieldError(("name",), "required: a non-empty string"))
        return ""
    if len(value) > NAME_MAX or any(ord(c) < 32 for c in value):
        errors.append(FieldError(("name",), f"at most {NAME_MAX} printable characters"))
    return value.strip()


def _config(
    channel_type: ChannelType, config: Mapping[str, Any], stored: Mapping[str, Any], errors: list[FieldError]
) -> tuple[dict[str, Any], dict[str, Any]]:
    public: dict[str, Any] = {}
    secrets = {k: v for k, v in stored.items() if k in channel_type.sealed_names}
    for key in config:
        if channel_type.field(str(key)) is None:
            errors.append(FieldError(("config", str(key)), f"unknown field for type {channel_type.name}"))
    for spec in channel_type.fields:
        loc = ("config", spec.name)
        if spec.name not in config:
            if spec.secret_parts and spec.name in secrets:
                public[spec.name] = _mask(spec, secrets[spec.name])  # left out: kept, like a secret
            elif spec.default is not None:
                public[spec.name] = spec.default
            continue
        value = config[spec.name]
        if value is None:
            secrets.pop(spec.name, None)  # an explicit null clears a stored secret
            continue
        message = _check(spec, value)
        if message is not None:
            errors.append(FieldError(loc, message))
        elif spec.secret_parts:
            _masked(spec, _normal(spec, value), secrets, public, errors)
        elif spec.secret:
            secrets[spec.name] = value
        else:
            public[spec.name] = _normal(spec, value)
    named = {e.loc for e in errors}
    for spec in channel_type.fields:
        missing = spec.name not in public and spec.name not in secrets
        if spec.required and missing and ("config", spec.name) not in named:
            errors.append(FieldError(("config", spec.name), "required"))
    _check_auth(channel_type, public, secrets, errors)
    _check_signing(secrets, errors)
    return public, secrets


def _masked(
    spec: ConfigField, value: Any, secrets: dict[str, Any], public: dict[str, Any], errors: list[FieldError]
) -> None:
    """A field with a secret part: `***` takes the stored part; the real value goes with the secrets if it has one."""
    try:
        real = (
            unmask_headers(value, secrets.get(spec.name))
            if spec.kind == "headers"
            else unmask_url(value, secrets.get(spec.name))
        )
    except ValueError as exc:
        errors.append(FieldError(("config", spec.name), str(exc)))
        return
    public[spec.name] = shown = _mask(spec, real)
    if shown != real:
        secrets[spec.name] = real
    else:
        secrets.pop(spec.name, None)


def _mask(spec: ConfigField, value: Any) -> Any:
    if spec.kind == "headers":
        return mask_headers(value) if isinstance(value, Mapping) else value
    return mask_url(value) if isinstance(value, str) else value


def public_view(type_name: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """A stored public config as the API shows it: fields with a secret part masked (a no-op once split)."""
    channel_type = TYPES.get(type_name)
    if channel_type is None:
        return dict(config)
    masked = {f.name: f for f in channel_type.fields if f.secret_parts}
    return {k: _mask(masked[k], v) if k in masked else v for k, v in config.items()}


def split_stored(
    type_name: str, config: Mapping[str, Any], secrets: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(public config, secrets) of a stored channel, moving the real value of a field with a secret part out of a
    config written before such fields were masked (its `headers`, a URL with credentials) into the secrets."""
    public, kept = public_view(type_name, config), dict(secrets)
    for name, value in config.items():
        if public[name] != value and name not in kept:
            kept[name] = value
    return public, kept


def secret_values(type_name: str, config: Mapping[str, Any]) -> list[str]:
    """Every secret string of a full config (secrets included): what no error, log line or excerpt may show."""
    channel_type = TYPES.get(type_name)
    found: list[str] = []
    for spec in channel_type.fields if channel_type else ():
        value = config.get(spec.name)
        if not value:
            continue
        if spec.kind == "headers" and isinstance(value, Mapping):
            found += [str(v) for v in value.values()]
        elif spec.secret:
            found.append(str(value))
        if spec.kind == "url" and isinstance(value, str):
            found += url_secrets(value)
    return found


def _check_auth(
    channel_type: ChannelType, public: Mapping[str, Any], secrets: Mapping[str, Any], errors: list[FieldError]
) -> None:
    present = {*public, *secrets}
    for user, password in channel_type.pairs:
        if user in present and password not in present:
            errors.append(FieldError(("config", password), f"required with {user}"))
        if password in present and user not in present:
            errors.append(FieldError(("config", user), f"required with {password}"))
    if "auth_token" in secrets and "basic_user" in public:
        errors.append(FieldError(("config", "auth_token"), "use either auth_token or basic auth, not both"))


def _check_signing(secrets: Mapping[str, Any], errors: list[FieldError]) -> None:
    if isinstance(secrets.get("secret"), str):
        try:
            signing_key(secrets["secret"])
        except ValueError as exc:
            errors.append(FieldError(("config", "secret"), str(exc)))


def _normal(spec: ConfigField, value: Any) -> Any:
    if spec.kind == "headers":
        return dict(value)
    if spec.kind == "emails":
        return list(value)
    if spec.kind == "choice":
        return value.upper()
    return value


def _check(spec: ConfigField, value: Any) -> str | None:
    """The problem with one field's value, or None. Messages never quote the value (it may be a secret)."""
    return _CHECKS[spec.kind](spec, value)


def _text(_: ConfigField, value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    return f"at most {_MAX_TEXT} characters" if len(value) > _MAX_TEXT else None


def _url(spec: ConfigField, value: Any) -> str | None:
    problem = _text(spec, value)
    if problem:
        return problem
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        return "must be an http or https URL"
    if parts.scheme not in ("http", "https") or not host or any(c.isspace() for c in value):
        return "must be an http or https URL with a host"
    return None


def _duration(_: ConfigField, value: Any) -> str | None:
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        return str(exc)
    if seconds <= 0 or seconds > MAX_TIMEOUT_SECONDS:
        return f"must be more than 0 and at most {MAX_TIMEOUT_SECONDS:g}s"
    return None


def _headers(_: ConfigField, value: Any) -> str | None:
    if not isinstance(value, Mapping) or len(value) > _MAX_HEADERS:
        return f"must be an object of at most {_MAX_HEADERS} header names to string values"
    for name, text in value.items():
        if not _HEADER_NAME.match(str(name)):
            return f"invalid header name {str(name)[:40]!r}"
        if not isinstance(text, str) or "\r" in text or "\n" in text or len(text) > _MAX_TEXT:
            return f"the value of header {name!r} must be a one-line string"
    return None


def _int(spec: ConfigField, value: Any) -> str | None:
    low, high = (1, MAX_ATTEMPTS_LIMIT) if spec.name == "max_attempts" else (1, 65535)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return f"must be an integer from {low} to {high}"
    return None


def _bool(_: ConfigField, value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def _emails(_: ConfigField, value: Any) -> str | None:
    if not isinstance(value, list) or not value or len(value) > 100:
        return "must be a list of 1 to 100 addresses"
    if not all(isinstance(a, str) and _EMAIL.fullmatch(a) for a in value):
        return "every entry must be an email address"
    return None


def _template(spec: ConfigField, value: Any) -> str | None:
    return _text(spec, value) or template_syntax_error(value)


def _choice(spec: ConfigField, value: Any) -> str | None:
    if not isinstance(value, str) or value.upper() not in spec.choices:
        return f"must be one of: {', '.join(spec.choices)}"
    return None


_CHECKS: dict[FieldKind, Callable[[ConfigField, Any], str | None]] = {
    "url": _url,
    "string": _text,
    "duration": _duration,
    "headers": _headers,
    "int": _int,
    "bool": _bool,
    "emails": _emails,
    "template": _template,
    "choice": _choice,
}


def timeout_seconds(config: Mapping[str, Any], default: float = 10.0) -> float:
    """The per-attempt timeout a channel config asks for (bounded by MAX_TIMEOUT_SECONDS)."""
    text = config.get("timeout")
    seconds = parse_duration(text) if isinstance(text, str) else default
    return min(max(seconds, 0.001), MAX_TIMEOUT_SECONDS)
