"""The one codec of the messages: JSON via orjson, and `decode`, which validates a message against its model.

`decode(model, data)` parses JSON bytes (or takes an already parsed body) and validates it with pydantic against
a model, a dataclass or a `TypeAdapter`; whatever is wrong becomes one `MessageError` whose `reason` names the
field (`events.3.event.time: invalid timestamp ...`). A consumer dead-letters a message with that reason.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache
from typing import Annotated, Any, TypeVar, overload

import orjson
from pydantic import PlainSerializer, PlainValidator, TypeAdapter, ValidationError

from services.common.domain.events.model import format_time, parse_time

T = TypeVar("T")
_INNER_PATH = re.compile(r"^[A-Za-z_][\w.]*: ")
REASON_LIMIT = 500


class MessageError(ValueError):
    """A message that does not decode; `reason` says what is wrong, naming the field."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def dumps(data: Any) -> bytes:
    """Compact JSON bytes (datetimes as RFC 3339; non-JSON types as strings)."""
    return orjson.dumps(data, default=str)


def dumps_by_entry(data: dict[str, Any]) -> orjson.Fragment:
    """`dumps(data)` as an orjson Fragment, each entry's value encoded in its own call: the same bytes, but a thread
    encoding a large mapping (a shard snapshot's rules) holds the interpreter for one entry at a time, not for the
    whole, so the threads it runs beside (a consume loop) get it back between entries."""
    return orjson.Fragment(
        b"{" + b",".join(orjson.dumps(key) + b":" + dumps(value) for key, value in data.items()) + b"}"
    )


def loads(data: bytes | str) -> Any:
    """Parse JSON bytes; raises ValueError (orjson.JSONDecodeError) on malformed input."""
    return orjson.loads(data)


@cache
def adapter(model: Any) -> TypeAdapter[Any]:
    """The (cached) validator of a model, a dataclass or any type pydantic understands."""
    return TypeAdapter(model)


@overload
def decode(model: TypeAdapter[T], data: Any) -> T: ...
@overload
def decode(model: type[T], data: Any) -> T: ...
def decode(model: Any, data: Any) -> Any:
    """Validate `data` (JSON bytes or str, or a parsed body) as `model`; MessageError naming the field otherwise."""
    data = parsed(data)
    validator = model if isinstance(model, TypeAdapter) else adapter(model)
    try:
        return validator.validate_python(data)
    except ValidationError as exc:
        raise MessageError(reason(exc)) from None


def parsed(data: Any) -> Any:
    """JSON bytes or str parsed (MessageError when not JSON); anything else as it is."""
    if isinstance(data, bytes | bytearray | memoryview | str):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise MessageError(f"not JSON: {exc}") from None
    return data


def reason(exc: ValidationError) -> str:
    """The first error of a validation as `field.path: message` (with how many more there are)."""
    errors = exc.errors(include_url=False, include_input=False)
    if not errors:
        return str(exc)[:REASON_LIMIT]
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"]) or "message"
    message = first["msg"].removeprefix("Value error, ")
    inner = _INNER_PATH.match(message)  # a hand-written check's own path (`time: ...`) continues the field's
    text = f"{where}.{message}" if inner else f"{where}: {message}"
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more)"
    return text[:REASON_LIMIT]


def _time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected an RFC 3339 time string, got {type(value).__name__}")
    return parse_time(value)


# A time on the wire: RFC 3339 text, a tz-aware UTC datetime in Python.
Time = Annotated[datetime, PlainValidator(_time), PlainSerializer(format_time)]
