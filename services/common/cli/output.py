"""How the operator CLI prints: aligned tables with long cells cut short, key/value blocks, or the API's JSON.

`-o json` prints the response body exactly as the gateway sent it (one JSON document, nothing else), so scripts
read what the API documents; tables are for people and may change.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import httpx

MAX_CELL = 48
ELLIPSIS = "…"


@dataclass(frozen=True)
class Column:
    """A table column: its header, how to read its cell from a row, and how wide a cell may grow."""

    header: str
    cell: Callable[[Mapping[str, Any]], Any]
    width: int = MAX_CELL


def field(name: str, width: int = MAX_CELL) -> Column:
    """A column showing one top-level field, headed by its name in capitals."""
    return Column(name.upper(), lambda row: row.get(name), width)


def text(value: Any) -> str:
    """A cell's text: '-' for nothing, yes/no for booleans, compact JSON for structures, one line always."""
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        value = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return " ".join(str(value).split())


def cut(value: str, width: int) -> str:
    """`value` cut to `width` characters, the last one an ellipsis when something was left out."""
    return value if len(value) <= width else value[: max(width - 1, 0)] + ELLIPSIS


def table(rows: Iterable[Mapping[str, Any]], columns: Sequence[Column]) -> str:
    """Rows as an aligned table under a header line (two spaces between columns, no trailing blanks)."""
    cells = [[col.header for col in columns]]
    cells += [[cut(text(col.cell(row)), col.width) for col in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in cells)


def pairs(items: Sequence[tuple[str, Any]], width: int = 100) -> str:
    """`key: value` lines with the values aligned (one record shown in full, long values cut)."""
    pad = max((len(key) for key, _ in items), default=0) + 1
    return "\n".join(f"{key + ':':<{pad}} {cut(text(value), width)}" for key, value in items)


def short_time(value: Any) -> str | None:
    """An RFC 3339 time without its fraction of a second (`2025-03-01T12:00:00Z`); other values as they are."""
    if not isinstance(value, str) or "T" not in value:
        return value
    head, _, rest = value.partition(".")
    if not rest:
        return value
    zone = next((i for i, ch in enumerate(rest) if not ch.isdigit()), len(rest))
    return head + rest[zone:]


def print_body(response: httpx.Response, out: TextIO) -> None:
    """The response body as the gateway sent it, one JSON document and a newline."""
    out.write(response.text.rstrip("\n") + "\n")


def print_json(body: Any, out: TextIO) -> None:
    """A JSON document built here (e.g. pages merged by `--all`)."""
    out.write(json.dumps(body, ensure_ascii=False) + "\n")
