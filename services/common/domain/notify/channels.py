"""A channel as the API takes it: validation of a `{"name","type","config"}` body, and its secrets kept apart.

Pure: the gateway validates bodies with it; the types and their fields are in channel_types.py. Secret fields
are write-only: they are kept apart from the public config, never echoed in an error, and a write that leaves
one out keeps the stored value (an explicit `null` clears it). Fields with a secret part are shown masked
(channel_masks.py) and their real value is kept with the secrets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from services.common.domain.notify.channel_fields import check_value, normal_value
from services.common.domain.notify.channel_masks import mask_headers, mask_url, unmask_headers, unmask_url, url_secrets
from services.common.domain.notify.channel_types import TYPES, ChannelType, ConfigField
from services.common.domain.notify.signing import signing_key
from services.common.domain.rules.errors import FieldError, display_name


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
    name = display_name(body.get("name"), errors)
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
        message = check_value(spec, value)
        if message is not None:
            errors.append(FieldError(loc, message))
        elif spec.secret_parts:
            _masked(spec, normal_value(spec, value), secrets, public, errors)
        elif spec.secret:
            secrets[spec.name] = value
        else:
            public[spec.name] = normal_value(spec, value)
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
