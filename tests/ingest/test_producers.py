"""The producers' ingest service, pure parts: how events are counted for the rate, and how ids are scoped."""

from __future__ import annotations

import json

import pytest

from services.ingest.producers import NDJSON, event_count, refusal, scoped_msg_id


@pytest.mark.parametrize(
    ("data", "content_type", "count"),
    [
        (b'{"cpu": 1}', None, 1),
        (b'[{"cpu": 1}, {"cpu": 2}, {"cpu": 3}]', None, 3),
        (b"  [1, 2]", None, 2),  # not objects: the router refuses them, but they count against the rate
        (b"[]", None, 1),  # an empty batch still costs a message
        (b"[not json", None, 1),
        (b'{"a": 1}\n\n{"a": 2}\n', NDJSON, 2),
        (b"", NDJSON, 1),
    ],
)
def test_events_are_counted_as_the_router_will_split_them(data: bytes, content_type: str | None, count: int) -> None:
    assert event_count(data, content_type) == count


def test_message_ids_are_scoped_to_the_tenant() -> None:
    assert scoped_msg_id("acme", "gt-01-0001") == "acme/gt-01-0001"


def test_a_refusal_has_jetstreams_error_shape() -> None:
    assert json.loads(refusal(429, "slow down")) == {
        "error": {"code": 429, "err_code": 429, "description": "slow down"}
    }
