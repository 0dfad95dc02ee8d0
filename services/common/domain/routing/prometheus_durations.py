"""Prometheus durations as Alertmanager's configuration writes them (`30s`, `5m`, `1h30m`, `1d`, `2w`, `0`)."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS: tuple[tuple[str, int], ...] = (
    ("y", 365 * 86400_000),
    ("w", 7 * 86400_000),
    ("d", 86400_000),
    ("h", 3600_000),
    ("m", 60_000),
)
_UNITS += (("s", 1000), ("ms", 1))
_PATTERN = re.compile("".join(rf"(?:(\d+){unit})?" for unit, _ in _UNITS))


def parse_duration(text: str) -> timedelta:
    """The duration a Prometheus duration string stands for; ValueError when it is not one."""
    if text == "0":
        return timedelta(0)
    found = _PATTERN.fullmatch(text)
    if not text or found is None:
        raise ValueError(f"not a valid duration string: {text!r}")
    milliseconds = sum(int(count) * size for count, (_, size) in zip(found.groups(), _UNITS, strict=True) if count)
    return timedelta(milliseconds=milliseconds)


def format_duration(duration: timedelta) -> str:
    """The duration as Prometheus prints it (`1h30m`, `0s`)."""
    left = round(duration.total_seconds() * 1000)
    if left == 0:
        return "0s"
    parts = []
    for unit, size in _UNITS:
        count, left = divmod(left, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
