"""promtool's series notation, a readable subset: `cpu_usage{host="a"}` and values like `50+10x3 _ 90x2`.

A series is a metric name and optional labels. Its values are space-separated tokens, one sample per interval:
`7` one sample; `a+bxn` and `a-bxn` the n+1 samples a, a+b, ..., a+n*b (so `axn`, short for `a+0xn`, repeats a
n+1 times); `_` no sample at that step; `_xn` n steps without a sample. Anything else is refused, naming the token.
"""

from __future__ import annotations

import re

MAX_SAMPLES = 10_000  # per series: a test is a handful of steps, a bigger one is a typo (`1x1000000`)

_SERIES = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.:-]*)\s*(?:\{(.*)\})?\s*$", re.S)
_LABEL = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_EXPANDING = re.compile(rf"^({_NUMBER})(?:([-+])({_NUMBER}))?x(\d+)$")
_BLANKS = re.compile(r"^_x(\d+)$")


def parse_series(text: str) -> tuple[str, dict[str, str]]:
    """`cpu_usage{host="a", dc="eu"}` -> ("cpu_usage", {"host": "a", "dc": "eu"}); ValueError naming the problem."""
    match = _SERIES.match(text)
    if match is None:
        raise ValueError(f'{text!r} is not a series: write a metric name and optional labels, like cpu{{host="a"}}')
    name, body = match.group(1), (match.group(2) or "").strip()
    labels: dict[str, str] = {}
    position = 0
    while position < len(body):
        label = _LABEL.match(body, position)
        if label is None:
            raise ValueError(f'bad labels {body[position:]!r}: write them as name="value", separated by commas')
        labels[label.group(1)] = re.sub(r"\\(.)", r"\1", label.group(2))
        position = label.end()
    return name, labels


def expand_values(text: str | int | float) -> list[float | None]:
    """The samples of a values string, one per interval; None where the series has no sample."""
    samples: list[float | None] = []
    for token in str(text).split():
        samples.extend(_token(token))
        if len(samples) > MAX_SAMPLES:
            raise ValueError(f"more than {MAX_SAMPLES} samples in one series")
    if not samples:
        raise ValueError("give at least one value")
    return samples


def _token(token: str) -> list[float | None]:
    if token == "_":
        return [None]
    blanks = _BLANKS.match(token)
    if blanks:
        return [None] * _count(blanks.group(1))
    try:
        return [float(token)]
    except ValueError:
        pass
    expanding = _EXPANDING.match(token)
    if expanding is None:
        raise ValueError(f"cannot read the value {token!r}: use 7, 1+2x3, 9-1x4, 5x2, _ or _x3")
    start, sign, step, times = expanding.groups()
    delta = float(step or 0) * (-1 if sign == "-" else 1)
    return [float(start) + i * delta for i in range(_count(times) + 1)]


def _count(digits: str) -> int:
    count = int(digits)
    if count > MAX_SAMPLES:
        raise ValueError(f"more than {MAX_SAMPLES} samples in one series")
    return count
