"""How large a template value is, and how large an operation's result would be, known before it runs.

The sandbox asks these before it builds a string or a container, so a template cannot make Python allocate
gigabytes first and be told off after. Estimates err on the large side; a value's size counts the characters of
its strings and one per other item, through nested containers, a shared part once for each place it appears (as
`str()` or `tojson` would write it out).
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from jinja2.runtime import Namespace
from jinja2.sandbox import SecurityError

HUGE = 10**12  # what an unreadable width counts as: more than any limit
# What follows `%` (and a `(key)`) in a printf directive: flags, width, precision, length modifier.
_PRINTF_SPEC = re.compile(r"[-+ #0]*(\*|\d+)?(?:\.(\*|\d*))?[hlL]?")
_DIGITS = re.compile(r"\d+")


class Sized(NamedTuple):
    """A value's size (capped at the limit + 1: larger is larger), nesting depth, and whether either can change."""

    size: int
    depth: int
    changeable: bool  # it holds a namespace, whose attributes a template can set


class SizeCache:
    """Sizes of containers already measured in one render, by id.

    It holds the containers, so no id is reused while its entry stands; past `capacity` references held (a few
    megabytes) it lets them all go rather than keep every list a long loop built alive.
    """

    def __init__(self, capacity: int) -> None:
        self._entries: dict[int, tuple[Any, int, int]] = {}
        self._held = 0
        self._capacity = capacity

    def get(self, item: Any) -> Sized | None:
        """The size and depth of a container measured before (they cannot change), or None."""
        entry = self._entries.get(id(item))
        return Sized(entry[1], entry[2], False) if entry is not None and entry[0] is item else None

    def put(self, item: Any, size: int, depth: int) -> None:
        """Remember a container whose size cannot change."""
        self._held += len(item) + 1
        if self._held > self._capacity:
            self._entries.clear()
            self._held = len(item) + 1
        self._entries[id(item)] = (item, size, depth)


def size_of(value: Any, limit: int, cache: SizeCache | None = None) -> int:
    """The size of a value as text, roughly (at most `limit` + 1: larger is larger)."""
    if isinstance(value, str | bytes):
        return len(value)
    if not isinstance(value, _CONTAINERS):
        return 1
    return measure(value, limit, cache).size


def measure(value: Any, limit: int, cache: SizeCache | None = None) -> Sized:
    """A value's size and nesting depth; containers whose size cannot change go into `cache`.

    Each distinct container is visited once, so a list holding one list twice, forty levels deep, costs forty
    steps while its size counts 2**40. A container met again inside itself (a namespace that holds itself) counts
    one, as `str()` writes `[...]` there.
    """
    if not _is_container(value):
        return Sized(len(value) if isinstance(value, str | bytes) else 1, 0, False)
    memo = SizeCache(limit) if cache is None else cache
    known: dict[int, Sized] = {}

    def seen(item: Any) -> Sized | None:
        found = known.get(id(item))
        return found if found is not None else memo.get(item)

    stack: list[tuple[Any, bool]] = [(value, False)]
    while stack:
        item, visited = stack.pop()
        if visited:
            sized = _combine(item, seen, limit)
            known[id(item)] = sized
            if not sized.changeable:
                memo.put(item, sized.size, sized.depth)
        elif seen(item) is None:
            known[id(item)] = Sized(1, 0, True)  # while its children are measured; stands for itself in a cycle
            stack.append((item, True))
            stack.extend((child, False) for child in _children(item) if _is_container(child))
    found = seen(value)
    assert found is not None
    return found


_CONTAINERS = (list, tuple, set, frozenset, dict, Namespace)


def _is_container(value: Any) -> bool:
    return isinstance(value, _CONTAINERS)


def _children(value: Any) -> Iterable[Any]:
    if isinstance(value, dict):
        return [*value.keys(), *value.values()]
    if isinstance(value, Namespace):
        return [object.__getattribute__(value, "_Namespace__attrs")]
    return value  # type: ignore[no-any-return]


def _combine(item: Any, seen: Callable[[Any], Sized | None], limit: int) -> Sized:
    size, depth, changeable = 1, 0, isinstance(item, Namespace)
    for child in _children(item):
        if isinstance(child, str | bytes):
            size += len(child)
        elif _is_container(child):
            child_size, child_depth, child_changeable = seen(child) or Sized(1, 0, True)
            size += child_size
            depth = max(depth, child_depth)
            changeable = changeable or child_changeable
        else:
            size += 1
    return Sized(min(size, limit + 1), depth + 1, changeable)


def number(digits: str | None) -> int:
    """A width or precision written in a format string (HUGE when too long to read)."""
    if not digits:
        return 0
    return int(digits) if len(digits) <= 12 else HUGE


def printf_size(text: str | bytes, values: Any, limit: int) -> int:
    """The largest result of `text % values`; SecurityError for a `*` width (the width would come from a value).

    One pass over the text (no backtracking pattern: the text may be a megabyte of `%(`).
    """
    pattern = text if isinstance(text, str) else text.decode("latin-1")
    spread = size_of(values, limit)
    size = len(pattern)
    position = pattern.find("%")
    while position != -1:
        start = position + 1
        if pattern.startswith("(", start):
            start = _key_end(pattern, start)
            if start < 0:
                return size  # an unclosed key: the format itself fails
        spec = _PRINTF_SPEC.match(pattern, start)
        assert spec is not None  # every part of the pattern is optional
        width, precision = spec.group(1), spec.group(2)
        if width == "*" or precision == "*":
            raise SecurityError("a '*' width is not allowed in templates")
        size += number(width) + number(precision) + spread
        position = pattern.find("%", spec.end() + 1)
    return size


def _key_end(pattern: str, start: int) -> int:
    """Where a `%(key)` ends, counting nested parentheses as Python does; -1 when it never closes."""
    depth = 0
    for index in range(start, len(pattern)):
        if pattern[index] == "(":
            depth += 1
        elif pattern[index] == ")":
            depth -= 1
            if depth == 0:
                return index + 1
    return -1


def format_size(text: str, values: Iterable[Any], limit: int) -> int:
    """The largest result of `text.format(...)` with these argument values; SecurityError for a nested field."""
    try:
        fields = list(string.Formatter().parse(text))
    except ValueError:
        return len(text)  # the call itself fails with this error
    spread = sum(size_of(value, limit) for value in values)
    size = len(text)
    for _, field, spec, _ in fields:
        if field is None:
            continue
        if spec and "{" in spec:
            raise SecurityError("a replacement field inside a format spec is not allowed in templates")
        size += sum(number(digits) for digits in _DIGITS.findall(spec or "")) + spread
    return size


def replace_size(text: Any, old: Any, new: Any, count: Any) -> int:
    """The largest result of `text.replace(old, new, count)` (the empty `old` matches between every character)."""
    if not (isinstance(text, str | bytes) and isinstance(old, type(text)) and isinstance(new, type(text))):
        return len(text) if isinstance(text, str | bytes) else 0
    hits = len(text) + 1 if not old else text.count(old)  # type: ignore[arg-type]  # both str, or both bytes
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    return len(text) + hits * max(len(new) - len(old), 0)


def join_size(separator: Any, items: list[Any], limit: int) -> int:
    """The size of `separator.join(items)`."""
    separator_size = len(separator) if isinstance(separator, str | bytes) else size_of(separator, limit)
    return sum(size_of(item, limit) for item in items) + separator_size * max(len(items) - 1, 0)


def _width(value: Any) -> int:
    return value if isinstance(value, int) else 0


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)  # filters write their input out as text


def _indent(args: Mapping[str, Any], limit: int) -> int:
    text, width = _text(args["s"]), args["width"]
    prefix = width if isinstance(width, int) else len(str(width))
    return len(text) + (text.count("\n") + 1) * prefix


def _tojson(args: Mapping[str, Any], limit: int) -> int:
    indent = args["indent"]
    step = indent if isinstance(indent, int) else len(str(indent or ""))
    sized = measure(args["value"], limit)
    return sized.size * (1 + step * sized.depth)


def _wordwrap(args: Mapping[str, Any], limit: int) -> int:
    text, wrap = _text(args["s"]), args["wrapstring"]
    lines = len(text) // max(_width(args["width"]), 1) + text.count("\n") + 1
    return len(text) + lines * (len(str(wrap)) if wrap is not None else 1)


def _urlize(args: Mapping[str, Any], limit: int) -> int:
    text = len(_text(args["value"]))
    extra = len(str(args["target"] or "")) + len(str(args["rel"] or "")) + 64
    return 3 * text + (text // 4 + 1) * extra


# Filters whose result can be far larger than their input, and how large it would be (arguments by name).
FILTER_SIZES: dict[str, Callable[[Mapping[str, Any], int], int]] = {
    "center": lambda a, limit: max(len(_text(a["value"])), _width(a["width"])),
    "indent": _indent,
    "replace": lambda a, limit: replace_size(_text(a["s"]), _text(a["old"]), _text(a["new"]), a["count"]),
    "join": lambda a, limit: join_size(a["d"], list(a["value"]), limit),
    "format": lambda a, limit: printf_size(_text(a["value"]), [*a["args"], *a["kwargs"].values()], limit),
    "batch": lambda a, limit: size_of(a["value"], limit) + _width(a["linecount"]),
    "slice": lambda a, limit: size_of(a["value"], limit) + _width(a["slices"]),
    "tojson": _tojson,
    "wordwrap": _wordwrap,
    "urlize": _urlize,
}


def method_size(owner: Any, name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any], limit: int) -> int | None:
    """The largest result of a str, bytes or int method that can grow its input (None for the others)."""
    if isinstance(owner, bool) or not isinstance(owner, str | bytes | int):
        return None
    if isinstance(owner, int):
        return _width(_arg(args, kwargs, 0, "length", 1)) if name == "to_bytes" else None
    if name in ("center", "ljust", "rjust", "zfill"):
        return max(len(owner), _width(_arg(args, kwargs, 0, "width", 0)))
    if name == "expandtabs":
        tab = "\t" if isinstance(owner, str) else b"\t"
        return len(owner) + owner.count(tab) * _width(_arg(args, kwargs, 0, "tabsize", 8))  # type: ignore[arg-type]
    if name == "replace":
        return replace_size(owner, _arg(args, kwargs, 0, "old", ""), _arg(args, kwargs, 1, "new", ""), _count(args))
    if name == "join" and args and isinstance(args[0], list):
        return join_size(owner, args[0], limit)
    return None


def _count(args: tuple[Any, ...]) -> Any:
    return args[2] if len(args) > 2 else -1


def _arg(args: tuple[Any, ...], kwargs: Mapping[str, Any], index: int, name: str, default: Any) -> Any:
    return args[index] if len(args) > index else kwargs.get(name, default)
