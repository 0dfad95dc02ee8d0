"""Request bodies decompressed under a limit on the decompressed size, so a small body cannot expand without bound.

Prometheus remote_write sends snappy's block format, whose header states the decompressed length: it is checked
before anything is decompressed. gzip (which OTLP/HTTP exporters may use) is inflated in steps and stopped one
byte past the limit.
"""

from __future__ import annotations

import zlib

import cramjam


class MalformedBody(ValueError):
    """The body cannot be read (bad compression, bad protobuf, bad JSON): the request is refused whole (400)."""


class BodyTooLarge(ValueError):
    """The body decompresses to more than the limit: the request is refused whole (413)."""


def snappy_block(body: bytes, max_bytes: int) -> bytes:
    """Decompress a snappy block (not the framed format); MalformedBody or BodyTooLarge."""
    try:
        declared = cramjam.snappy.decompress_raw_len(body)
    except cramjam.DecompressionError as exc:
        raise MalformedBody(f"the body is not snappy block-compressed: {exc}") from None
    if declared > max_bytes:
        raise BodyTooLarge(_too_large(f"{declared} bytes (its snappy header)", max_bytes))
    try:
        return bytes(cramjam.snappy.decompress_raw(body))
    except cramjam.DecompressionError as exc:
        raise MalformedBody(f"the body is not valid snappy block-compressed data: {exc}") from None


def gzip_body(body: bytes, max_bytes: int) -> bytes:
    """Inflate a gzip body; MalformedBody or BodyTooLarge (past `max_bytes` decompressed)."""
    inflater = zlib.decompressobj(wbits=31)
    try:
        data = inflater.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise MalformedBody(f"the body is not valid gzip: {exc}") from None
    if len(data) > max_bytes:
        raise BodyTooLarge(_too_large(f"more than {max_bytes} bytes", max_bytes))
    if not inflater.eof:
        raise MalformedBody("the gzip body is truncated")
    return data


def decode_content(body: bytes, encoding: str | None, max_bytes: int) -> bytes:
    """A body by its Content-Encoding (none/identity, gzip, snappy); MalformedBody for any other encoding."""
    name = (encoding or "identity").strip().lower()
    if name == "identity":
        if len(body) > max_bytes:
            raise BodyTooLarge(_too_large(f"{len(body)} bytes", max_bytes))
        return body
    if name == "gzip":
        return gzip_body(body, max_bytes)
    if name == "snappy":
        return snappy_block(body, max_bytes)
    raise MalformedBody(f"unsupported Content-Encoding {encoding!r}: send gzip, snappy or no encoding")


def _too_large(size: str, max_bytes: int) -> str:
    return f"the body decompresses to {size}; the limit is {max_bytes} bytes decompressed (CEP_MAX_DECOMPRESSED_BYTES)"
