"""Dotted payload paths (`a.b.0.c`): parsing and lookup with an explicit 'missing' answer."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

_SEGMENT = re.compile(r"^[^.\s]+$")


class _Missing:
    """The answer of `lookup` for a path that names nothing in the payload."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()


def validate_path(path: str) -> str:
    """Return the path unchanged if it is a well-formed dotted path, else raise ValueError."""
    if not isinstance(path, str) or not path:
        raise ValueError("a field path is a non-empty dotted string like 'host.name'")
    for segment in path.split("."):
        if not _SEGMENT.match(segment):
            raise ValueError(f"invalid field path {path!r}: empty segment or whitespace")
    return path


def lookup(payload: Any, path: str) -> Any:
    """Return the value at a dotted path, or MISSING. Integer segments index into lists."""
    current = payload
    for segment in path.split("."):
        if isinstance(current, Mapping):
            if segment not in current:
                return MISSING
            current = current[segment]
        elif isinstance(current, Sequence) and not isinstance(current, str | bytes) and segment.lstrip("-").isdigit():
            index = int(segment)
            if not -len(current) <= index < len(current):
                return MISSING
            current = current[index]
        else:
            return MISSING
    return current
