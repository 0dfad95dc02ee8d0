"""Masks for channel fields that are public but carry a secret part: header values and URL credentials.

The API shows such a field with each secret part replaced by `***` (`https://***@host/in?api_key=***`,
`{"X-Api-Key": "***"}`); sent back, `***` stands for the stored part, so a read-modify-write keeps it. A URL's
secret parts are its userinfo and the values of query parameters whose names look like credentials.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import unquote, unquote_plus, urlsplit, urlunsplit

MASK = "***"
# Query parameter names that carry credentials by convention (api_key, access_token, sig, X-Amz-Signature, ...).
_SECRET_PARAM = re.compile(r"(?i)(token|key|secret|pass|pwd|auth|sig|credential|session)")


def mask_url(url: str) -> str:
    """The URL with its userinfo and the values of credential-looking query parameters replaced by `***`."""
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    netloc = f"{MASK}@{hostport}" if at and userinfo else parts.netloc
    query = "&".join(_mask_param(p) for p in parts.query.split("&")) if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _mask_param(param: str) -> str:
    name, eq, value = param.partition("=")
    return f"{name}={MASK}" if eq and value and _SECRET_PARAM.search(unquote_plus(name)) else param


def unmask_url(url: str, stored: str | None) -> str:
    """The URL with each `***` replaced by the stored URL's part at the same place; ValueError when none is stored."""
    parts = urlsplit(url)
    old = urlsplit(stored) if stored else None
    userinfo, at, hostport = parts.netloc.rpartition("@")
    netloc = parts.netloc
    if at and userinfo == MASK:
        kept = old.netloc.rpartition("@")[0] if old else ""
        if not kept:
            raise ValueError(f"'{MASK}' stands for stored credentials, and no stored URL has any")
        netloc = f"{kept}@{hostport}"
    stored_params = _params(old.query) if old else {}
    query = []
    for param in parts.query.split("&") if parts.query else []:
        name, eq, value = param.partition("=")
        if eq and value == MASK:
            if name not in stored_params:
                raise ValueError(
                    f"'{MASK}' stands for the stored value of {unquote_plus(name)[:40]!r}: no stored value"
                )
            param = f"{name}={stored_params[name]}"
        query.append(param)
    return urlunsplit((parts.scheme, netloc, parts.path, "&".join(query), parts.fragment))


def _params(query: str) -> dict[str, str]:
    """Raw (still encoded) query values by raw name; the first of a repeated name."""
    found: dict[str, str] = {}
    for param in query.split("&") if query else []:
        name, eq, value = param.partition("=")
        if eq:
            found.setdefault(name, value)
    return found


def url_secrets(url: str) -> list[str]:
    """Every form a credential of the URL may take in a text (raw and decoded), for redaction."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    found = [userinfo, unquote(userinfo)] if userinfo else []
    for piece in userinfo.split(":", 1) if userinfo else []:
        found += [piece, unquote(piece)]
    for param in parts.query.split("&") if parts.query else []:
        name, eq, value = param.partition("=")
        if eq and value and _SECRET_PARAM.search(unquote_plus(name)):
            found += [value, unquote_plus(value)]
    return [f for f in dict.fromkeys(found) if f and f != MASK]


def mask_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The header names, each with `***` for its value."""
    return {str(name): MASK for name in headers}


def unmask_headers(headers: Mapping[str, str], stored: Mapping[str, str] | None) -> dict[str, str]:
    """The headers with each `***` value replaced by the stored value of that header (names match in any case)."""
    by_name = {str(k).lower(): v for k, v in (stored or {}).items()}
    out: dict[str, str] = {}
    for name, value in headers.items():
        if value == MASK:
            if str(name).lower() not in by_name:
                raise ValueError(f"header {str(name)[:40]!r} is '{MASK}' but has no stored value to keep")
            value = by_name[str(name).lower()]
        out[str(name)] = value
    return out
