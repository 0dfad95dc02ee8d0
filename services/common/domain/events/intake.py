"""Ingest bodies into items: one JSON object, a JSON array or NDJSON; each item validated or rejected by index."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from services.common.domain.events.model import Event, as_utc, event_time

RESERVED_PREFIX = "cep."  # internal event types (cep.schedule, ...) that only the platform may emit
RESERVED_ERROR = "event types starting with 'cep.' are reserved for the platform"
NDJSON_TYPES = frozenset({"application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines"})


class NotJson(ValueError):
    """The body as a whole is not JSON (nor NDJSON): the request is malformed, not one of its items."""


@dataclass(frozen=True)
class Item:
    """An accepted item: its position in the body, the object as sent, its event time and event type."""

    index: int
    payload: Mapping[str, Any]
    time: datetime
    event_type: str | None


@dataclass(frozen=True)
class Reject:
    """A refused item: its position in the body and why."""

    index: int
    error: str

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "error": self.error}


@dataclass(frozen=True)
class Intake:
    """A parsed body: the accepted items and the rejected ones, both in body order."""

    items: list[Item]
    rejected: list[Reject]


@dataclass(frozen=True)
class BadLine:
    """An NDJSON line that is not JSON: rejected on its own, the other lines still count."""

    error: str


def parse_body(body: bytes, content_type: str | None, arrival: datetime, *, allow_reserved: bool = False) -> Intake:
    """Split a body into items and validate each; raise NotJson when the body as a whole is not JSON.

    `arrival` is the event time of items without a `timestamp`. `allow_reserved` admits `cep.` event types
    (only for the platform's own internal subject).
    """
    items: list[Item] = []
    rejected: list[Reject] = []
    for index, value in enumerate(split_body(body, content_type)):
        if isinstance(value, BadLine):
            rejected.append(Reject(index, value.error))
            continue
        checked = check_item(value, arrival, index=index, allow_reserved=allow_reserved)
        if isinstance(checked, Item):
            items.append(checked)
        else:
            rejected.append(Reject(index, checked))
    return Intake(items, rejected)


def split_body(body: bytes, content_type: str | None) -> list[Any]:
    """The raw values of a body, in order (an NDJSON line that is not JSON is a BadLine).

    NDJSON is read when the content type says so, or when the body is not one JSON document but starts
    with `{` and its first line is a JSON object (several objects, one per line).
    """
    if media_type(content_type) in NDJSON_TYPES:
        return _ndjson(body)
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if body.lstrip()[:1] == b"{" and _looks_like_ndjson(body):
            return _ndjson(body)
        raise NotJson(_describe(body, exc)) from None
    return document if isinstance(document, list) else [document]


def check_item(value: Any, arrival: datetime, *, index: int = 0, allow_reserved: bool = False) -> Item | str:
    """Validate one item (at `index` in its body): the accepted Item, or the reason it is refused."""
    if not isinstance(value, dict):
        return f"an item is a JSON object, got {_json_type(value)}"
    try:
        at = event_time(value, arrival)
    except ValueError as exc:
        return str(exc)  # event_time names the timestamp in every message
    event_type = value.get("event_type")
    if event_type is not None:
        if not isinstance(event_type, str) or not event_type.strip():
            return "event_type must be a non-empty string"
        if event_type.startswith(RESERVED_PREFIX) and not allow_reserved:
            return RESERVED_ERROR
    return Item(index, value, at, event_type)


def to_event(item: Item, *, event_id: str, tenant: str, received_at: datetime) -> Event:
    """The domain Event of an accepted item."""
    return Event(
        event_id=event_id,
        tenant=tenant,
        time=item.time,
        payload=item.payload,
        event_type=item.event_type,
        received_at=as_utc(received_at),
    )


def media_type(content_type: str | None) -> str:
    """The bare media type of a Content-Type header (`application/json; charset=utf-8` -> `application/json`)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def _lines(body: bytes) -> list[bytes]:
    return [line for line in (raw.strip() for raw in body.split(b"\n")) if line]


def _looks_like_ndjson(body: bytes) -> bool:
    lines = _lines(body)
    if len(lines) < 2:
        return False
    try:
        return isinstance(orjson.loads(lines[0]), dict)
    except orjson.JSONDecodeError:
        return False


def _ndjson(body: bytes) -> list[Any]:
    values: list[Any] = []
    for number, line in enumerate(_lines(body)):
        try:
            values.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            values.append(BadLine(f"line {number + 1} is not JSON: {_first_line(exc)}"))
    if not values:
        raise NotJson("the body is empty; send a JSON object, a JSON array or NDJSON")
    if all(isinstance(v, BadLine) for v in values):
        raise NotJson(f"no line of the NDJSON body is JSON ({values[0].error})")
    return values


def _describe(body: bytes, exc: orjson.JSONDecodeError) -> str:
    if not body.strip():
        return "the body is empty; send a JSON object, a JSON array or NDJSON"
    return f"the body is not valid JSON: {_first_line(exc)}"


def _first_line(exc: Exception) -> str:
    return str(exc).split("\n", 1)[0][:200]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__
