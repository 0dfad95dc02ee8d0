"""JSON merge patch (RFC 7396) and the version preconditions of writes (`version` in a body, `If-Match`)."""

from __future__ import annotations

from typing import Any

from services.gateway.rest.problems import invalid_field


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply an RFC 7396 merge patch: objects merge key by key, `null` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def body_version(body: dict[str, Any]) -> int | None:
    """The optional `version` a write body was read at (422 naming `version` when it is not an integer)."""
    value = body.get("version")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise invalid_field(("version",), "the version is a positive integer (the one you read)")
    return value


def if_match_version(header: str | None) -> int | None:
    """The version named by an `If-Match` header (`"3"`, `W/"3"`, `3`; `*` names none)."""
    if header is None or header.strip() in ("", "*"):
        return None
    text = header.strip().removeprefix("W/").strip('"')
    if not text.isdigit() or len(text) > 18:
        raise invalid_field(("If-Match",), 'If-Match names a version: "3" (as in the ETag of a GET)')
    return int(text)


def expected_versions(body: dict[str, Any] | None, header: str | None) -> list[int]:
    """Every version the client asserted (body and/or If-Match); each must equal the current one."""
    found = [body_version(body) if body is not None else None, if_match_version(header)]
    return [v for v in found if v is not None]
