"""Duration strings of the contract (`500ms`, `30s`, `5m`, `1h`, `1d`) parsed to seconds and back."""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")


def parse_duration(text: str) -> float:
    """Return the number of seconds a duration string stands for; raise ValueError naming the format."""
    if not isinstance(text, str):
        raise ValueError("a duration is a string like '500ms', '30s', '5m', '1h' or '1d'")
    match = _PATTERN.match(text)
    if match is None:
        raise ValueError(f"invalid duration {text!r}: use a number and a unit (ms, s, m, h, d), like '5m'")
    return float(match.group(1)) * _UNITS[match.group(2)]


def format_duration(seconds: float) -> str:
    """Return the shortest exact duration string for a number of seconds (300 -> '5m')."""
    if seconds < 1 and seconds != 0:
        return f"{round(seconds * 1000)}ms"
    for unit in ("d", "h", "m", "s"):
        size = _UNITS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
