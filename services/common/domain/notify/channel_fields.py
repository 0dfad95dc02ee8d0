"""The check of one channel config field's value by its kind (URL, duration, headers, ...), and its normal form.

Messages never quote the value: it may be a secret.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from services.common.domain.notify.channel_types import MAX_ATTEMPTS_LIMIT, MAX_TIMEOUT_SECONDS, ConfigField, FieldKind
from services.common.domain.notify.templates import check as template_syntax_error
from services.common.domain.rules.durations import parse_duration

_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")
_MAX_HEADERS = 50
_MAX_TEXT = 4096
_EMAIL = re.compile(r"[^\s@<>,;]{1,256}@[^\s@<>,;]{1,255}")  # loose: no spaces, separators or line breaks


def normal_value(spec: ConfigField, value: Any) -> Any:
    if spec.kind == "headers":
        return dict(value)
    if spec.kind == "emails":
        return list(value)
    if spec.kind == "choice":
        return value.upper()
    return value


def check_value(spec: ConfigField, value: Any) -> str | None:
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
    if not isinstance(value, str) or value.upper() not in {choice.upper() for choice in spec.choices}:
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
