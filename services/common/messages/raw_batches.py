"""Raw batches: the router's work message that forwards raw-stream messages to a shard as they were stored.

The router reads each raw message to decide which shards need which of its events, but it does not encode the
events again: a shard's raw batch carries the messages' bytes as stored, and a small JSON head saying, per message,
where it came from, when it arrived, its id and which of its events (`picks`, by raw position) the shard
evaluates. The shard reads the events itself (services/common/domain/events/raw_messages.py, the router's own
reading), so both see the same events with the same ids.

    body  = RAW_BATCH_MARK head "\\n" blob
    head  = {"subjects": [str], "stamps": [str], "types": [str],
             "rows": [[seq, subject #, stamp #, type # | null, msg_id | null, size, [pick, ...]], ...]}
    blob  = the rows' message bytes, one after the other (`size` bytes each)

`stamps` are arrival times (RFC 3339) and `types` content types, each written once per batch; a row names them
by index. The mark is not JSON, so the work messages of earlier versions (JSON objects) are told apart.
While tracing, the head also holds `"traces": [[row number, traceparent], ...]` for the rows whose raw message
carried a trace context (docs/tracing.md); readers that do not know it ignore it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from services.common.messages.codec import MessageError

RAW_BATCH_MARK = b"\x1ecep-raw/1\n"
_HEAD_OVERHEAD = len(b'{"subjects":[],"stamps":[],"types":[],"rows":[]}\n')
RAW_BATCH_OVERHEAD = len(RAW_BATCH_MARK) + _HEAD_OVERHEAD
_ROW_SLACK = 40  # a row's brackets, commas and table indexes (up to 6 digits each), and its tables' commas
_TRACE_SLACK = 24  # a `traces` entry's brackets, quotes, commas and row number, and the key's share


@dataclass(frozen=True)
class RawRow:
    """One raw message in a raw batch: raw sequence, subject, arrival, content type, msg id, bytes, and picks."""

    seq: int
    subject: str
    stamp: str
    content_type: str | None
    msg_id: str | None
    data: bytes
    picks: tuple[int, ...]
    traceparent: str | None = None  # the W3C trace context of the raw message, while tracing


def row_cost(row: RawRow) -> int:
    """At most what `row` adds to a raw batch (its tables counted in full, as if no other row shared them)."""
    return shared_cost(row) + picks_cost(row.picks)


def shared_cost(row: RawRow) -> int:
    """`row_cost` without the picks: the same for every shard the message goes to."""
    texts = _text(row.subject) + _text(row.stamp) + _text(row.content_type) + _text(row.msg_id)
    traced = 0 if row.traceparent is None else len(row.traceparent) + _TRACE_SLACK
    return len(row.data) + len(str(row.seq)) + len(str(len(row.data))) + texts + _ROW_SLACK + traced


def picks_cost(picks: Sequence[int]) -> int:
    return 2 + sum(len(str(pick)) + 1 for pick in picks)


def _text(value: str | None) -> int:
    return 4 if value is None else len(orjson.dumps(value))


def encode_raw_batch(rows: Sequence[RawRow]) -> bytes:
    """The raw batch of `rows`, in order (its size is at most RAW_BATCH_OVERHEAD + the rows' `row_cost`)."""
    tables: dict[str, dict[str, int]] = {"subjects": {}, "stamps": {}, "types": {}}

    def at(table: str, value: str) -> int:
        return tables[table].setdefault(value, len(tables[table]))

    head = [
        [
            row.seq,
            at("subjects", row.subject),
            at("stamps", row.stamp),
            None if row.content_type is None else at("types", row.content_type),
            row.msg_id,
            len(row.data),
            row.picks,
        ]
        for row in rows
    ]
    body: dict[str, Any] = {name: list(table) for name, table in tables.items()} | {"rows": head}
    traces = [[number, row.traceparent] for number, row in enumerate(rows) if row.traceparent is not None]
    if traces:
        body["traces"] = traces
    return b"".join([RAW_BATCH_MARK, orjson.dumps(body), b"\n", *(row.data for row in rows)])


def is_raw_batch(data: bytes) -> bool:
    return data.startswith(RAW_BATCH_MARK)


def decode_raw_batch(data: bytes) -> list[RawRow]:
    """The rows of a raw batch; MessageError naming the field when the head or the sizes are wrong."""
    if not is_raw_batch(data):
        raise MessageError("not a raw batch")
    start = len(RAW_BATCH_MARK)
    end = data.find(b"\n", start)
    if end < 0:
        raise MessageError("head: no end of line")
    try:
        head = orjson.loads(data[start:end])
    except orjson.JSONDecodeError as exc:
        raise MessageError(f"head: not JSON ({exc})") from None
    if not isinstance(head, dict):
        raise MessageError(f"head: expected an object, got {type(head).__name__}")
    subjects, stamps, types = (_strings(head, name) for name in ("subjects", "stamps", "types"))
    rows = head.get("rows")
    if not isinstance(rows, list):
        raise MessageError("rows: expected a list")
    out: list[RawRow] = []
    offset = end + 1
    traces = _traces(head.get("traces"))
    for number, row in enumerate(rows):
        try:
            decoded, offset = _row(row, data, offset, subjects, stamps, types, traces.get(number))
        except MessageError as exc:
            raise MessageError(f"rows.{number}.{exc.reason}") from None
        out.append(decoded)
    if offset != len(data):
        raise MessageError(f"rows: the sizes cover {offset} of {len(data)} bytes")
    return out


def _traces(traces: Any) -> dict[int, str]:
    """The trace contexts of the head's `traces` by row number (an unreadable entry is ignored: traces are a hint)."""
    if not isinstance(traces, list):
        return {}
    return {
        entry[0]: entry[1]
        for entry in traces
        if isinstance(entry, list) and len(entry) == 2 and type(entry[0]) is int and isinstance(entry[1], str)
    }


def _row(
    row: Any,
    data: bytes,
    offset: int,
    subjects: list[str],
    stamps: list[str],
    types: list[str],
    traceparent: str | None = None,
) -> tuple[RawRow, int]:
    if not isinstance(row, list) or len(row) != 7:
        raise MessageError("expected a list of 7 fields")
    seq, subject, stamp, content_type, msg_id, size, picks = row
    for name, value in (("seq", seq), ("subject", subject), ("stamp", stamp), ("size", size)):
        if type(value) is not int or value < 0:
            raise MessageError(f"{name}: expected a non-negative integer, got {value!r}")
    if msg_id is not None and type(msg_id) is not str:
        raise MessageError(f"msg_id: expected a string or null, got {type(msg_id).__name__}")
    if not isinstance(picks, list) or any(type(p) is not int or p < 0 for p in picks):
        raise MessageError("picks: expected a list of non-negative integers")
    if offset + size > len(data):
        raise MessageError(f"size: {size} bytes at {offset} run past the end ({len(data)})")
    decoded = RawRow(
        seq,
        _entry("subject", subjects, subject),
        _entry("stamp", stamps, stamp),
        None if content_type is None else _entry("type", types, content_type),
        msg_id,
        data[offset : offset + size],
        tuple(picks),
        traceparent,
    )
    return decoded, offset + size


def _strings(head: dict[str, Any], name: str) -> list[str]:
    values = head.get(name)
    if not isinstance(values, list) or any(type(value) is not str for value in values):
        raise MessageError(f"{name}: expected a list of strings")
    return values


def _entry(name: str, table: list[str], index: Any) -> str:
    if type(index) is not int or not 0 <= index < len(table):
        raise MessageError(f"{name}: {index!r} is not an index of the batch's table")
    return table[index]
