"""OTLP/HTTP bodies and answers in both encodings (binary protobuf and JSON), and attribute values as plain data.

OTLP's JSON differs from protobuf's canonical JSON in one way that matters here: trace and span ids are hex
strings, not base64; they are turned into base64 before protobuf's `json_format` reads the document. Field names
may be lowerCamelCase or snake_case, int64 values numbers or strings, enums integers; unknown fields are ignored,
as OTLP requires of receivers.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Iterable
from typing import Any, Literal, TypeVar

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from services.common.domain.ingest_formats.compression import MalformedBody

Encoding = Literal["protobuf", "json"]
MEDIA_TYPES: dict[str, Encoding] = {"application/x-protobuf": "protobuf", "application/json": "json"}
_HEX_ID_FIELDS = frozenset({"traceId", "spanId", "trace_id", "span_id"})
# Deeper JSON than protobuf's own parser accepts (its default recursion limit is 100) is refused before it is read:
# the walk below and protobuf's `json_format` both recurse, so the limit must not depend on the interpreter's.
MAX_JSON_DEPTH = 100
M = TypeVar("M", bound=Message)


def encoding_of(content_type: str | None) -> Encoding | None:
    """The OTLP encoding of a Content-Type (`application/x-protobuf`, `application/json`), None for another."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return MEDIA_TYPES.get(media)


def parse_request(body: bytes, encoding: Encoding, message: type[M]) -> M:
    """The export request of a body; MalformedBody with the reason when it is not one."""
    if encoding == "protobuf":
        try:
            return message.FromString(body)
        except DecodeError as exc:
            raise MalformedBody(f"the body is not a protobuf {message.DESCRIPTOR.name}: {exc}") from None
    try:
        document = orjson.loads(body) if body.strip() else {}
    except orjson.JSONDecodeError as exc:
        raise MalformedBody(f"the body is not valid JSON: {str(exc).splitlines()[0]}") from None
    if not isinstance(document, dict):
        raise MalformedBody(f"an OTLP JSON body is an object ({message.DESCRIPTOR.name})")
    try:
        return json_format.ParseDict(_hex_ids_as_base64(document, ()), message(), ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise MalformedBody(f"the body is not an OTLP {message.DESCRIPTOR.name}: {str(exc)[:300]}") from None


def encode_response(response: Message, encoding: Encoding) -> bytes:
    """An export answer in the request's encoding (OTLP JSON: lowerCamelCase field names)."""
    if encoding == "protobuf":
        return response.SerializeToString()
    return orjson.dumps(json_format.MessageToDict(response))


def attribute_pairs(attributes: Iterable[KeyValue]) -> list[tuple[str, Any]]:
    """OTLP attributes as (key, plain value) pairs, in order."""
    return [(kv.key, plain_value(kv.value)) for kv in attributes]


def plain_value(value: AnyValue) -> Any:
    """An AnyValue as JSON data: bytes as base64, arrays as lists, key-value lists as objects, unset as None."""
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [plain_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return dict(attribute_pairs(value.kvlist_value.values))
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    if kind == "double_value" and not math.isfinite(value.double_value):
        return str(value.double_value)  # JSON has no NaN or Infinity
    return None if kind is None else getattr(value, kind)


def _hex_ids_as_base64(node: Any, path: tuple[str, ...]) -> Any:
    if len(path) > MAX_JSON_DEPTH:
        raise MalformedBody(f"the JSON body is nested more than {MAX_JSON_DEPTH} levels deep for an OTLP request")
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, item in node.items():
            if key in _HEX_ID_FIELDS and isinstance(item, str):
                out[key] = _hex_to_base64(item, ".".join((*path, key)))
            else:
                out[key] = _hex_ids_as_base64(item, (*path, str(key)))
        return out
    if isinstance(node, list):
        return [_hex_ids_as_base64(item, (*path, str(index))) for index, item in enumerate(node)]
    return node


def _hex_to_base64(text: str, where: str) -> str:
    try:
        return base64.b64encode(binascii.unhexlify(text)).decode()
    except (binascii.Error, ValueError):
        raise MalformedBody(f"{where}: a trace or span id is a hex string in OTLP JSON, got {text[:40]!r}") from None
