"""Ingest bodies: objects, arrays and NDJSON split into accepted items and per-item rejects."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.common.domain.events.intake import (
    RESERVED_ERROR,
    BadLine,
    Item,
    NotJson,
    check_item,
    media_type,
    parse_body,
    split_body,
    to_event,
)

ARRIVAL = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
NDJSON = "application/x-ndjson"

# (body, content type, accepted indexes, rejected {index: error fragment})
BODY_CASES: list[tuple[bytes, str | None, list[int], dict[int, str]]] = [
    (b'{"cpu": 1}', "application/json", [0], {}),
    (b'  {"cpu": 1}  ', None, [0], {}),
    (b'[{"cpu": 1}, {"cpu": 2}]', "application/json", [0, 1], {}),
    (b"[]", "application/json", [], {}),
    (
        b'[{"a": 1}, 2, "x", null, true, [], {"b": 2}]',
        None,
        [0, 6],
        {1: "number", 2: "string", 3: "null", 4: "boolean", 5: "array"},
    ),
    (b"42", None, [], {0: "got a number"}),
    (b'"text"', "application/json", [], {0: "got a string"}),
    (b'[{"timestamp": "yesterday"}]', None, [], {0: "invalid timestamp 'yesterday'"}),
    (b'[{"timestamp": true}]', None, [], {0: "timestamp must be"}),
    (b'[{"event_type": ""}, {"event_type": 7}]', None, [], {0: "non-empty string", 1: "non-empty string"}),
    (b'[{"event_type": "cep.schedule"}, {"event_type": "deploy"}]', None, [1], {0: RESERVED_ERROR}),
    (b'[{"event_type": null}]', None, [0], {}),  # null is the same as absent
    (b'{"a": 1}\n{"a": 2}\n', NDJSON, [0, 1], {}),
    (b'{"a": 1}\r\n\r\n{"a": 2}', "application/x-ndjson; charset=utf-8", [0, 1], {}),
    (b'{"a": 1}\n{oops\n[1]\n{"a": 3}', NDJSON, [0, 3], {1: "line 2 is not JSON", 2: "got an array"}),
    (b'{"a": 1}\n{"a": 2}\n{"a": 3}', None, [0, 1, 2], {}),  # sniffed: several lines, each an object
    (b'{"a": 1}\n{"a": 2}', "application/json", [0, 1], {}),  # a wrong content type is still sniffed
    (b'{"a": 1}\nnope', None, [0], {1: "line 2 is not JSON"}),
    (b'[{"a": 1}]', NDJSON, [], {0: "got an array"}),  # NDJSON taken at its word: one line, an array
]


@pytest.mark.parametrize(("body", "content_type", "accepted", "rejected"), BODY_CASES)
def test_parse_body(body: bytes, content_type: str | None, accepted: list[int], rejected: dict[int, str]) -> None:
    intake = parse_body(body, content_type, ARRIVAL)
    assert [item.index for item in intake.items] == accepted
    assert [r.index for r in intake.rejected] == sorted(rejected)
    for reject in intake.rejected:
        assert rejected[reject.index] in reject.error, reject
        assert reject.as_dict() == {"index": reject.index, "error": reject.error}


NOT_JSON: list[tuple[bytes, str | None]] = [
    (b"", None),
    (b"   \n ", None),
    (b"not json", None),
    (b'{"a": 1', "application/json"),
    (b'{"a": 1,\n "b": 2,\n}', None),  # a broken pretty-printed object is not NDJSON
    (b"NaN", None),
    (b"1e400", None),
    (b'"\\ud800"', None),
    (b"\xff\xfe{}", None),
    (b"[" * 2000 + b"]" * 2000, None),
    (b"", NDJSON),
    (b"nope\nnever", NDJSON),
]


@pytest.mark.parametrize(("body", "content_type"), NOT_JSON)
def test_a_body_that_is_not_json_at_all(body: bytes, content_type: str | None) -> None:
    with pytest.raises(NotJson):
        parse_body(body, content_type, ARRIVAL)


ITEM_CASES: list[tuple[Any, bool, datetime | str]] = [
    ({"cpu": 1}, False, ARRIVAL),
    ({"timestamp": "2024-05-01T11:59:00Z"}, False, datetime(2024, 5, 1, 11, 59, tzinfo=UTC)),
    ({"timestamp": 1714564740123}, False, datetime(2024, 5, 1, 11, 59, 0, 123000, tzinfo=UTC)),
    ({"timestamp": {"at": 1}}, False, "timestamp must be an RFC 3339 string or an epoch number, got dict"),
    ({"event_type": "cep.notification.failed"}, False, RESERVED_ERROR),
    ({"event_type": "cep.notification.failed"}, True, ARRIVAL),  # the internal subject may
    ({"event_type": "   "}, False, "event_type must be a non-empty string"),
    ({"event_type": ["deploy"]}, False, "event_type must be a non-empty string"),
    ([{"cpu": 1}], False, "an item is a JSON object, got an array"),
]


@pytest.mark.parametrize(("value", "allow_reserved", "expected"), ITEM_CASES)
def test_check_item(value: Any, allow_reserved: bool, expected: datetime | str) -> None:
    got = check_item(value, ARRIVAL, index=4, allow_reserved=allow_reserved)
    if isinstance(expected, str):
        assert got == expected
    else:
        assert isinstance(got, Item)
        assert (got.index, got.time, got.payload) == (4, expected, value)


def test_split_body_marks_bad_lines() -> None:
    values = split_body(b'{"a": 1}\n{bad}\n', NDJSON)
    assert values[0] == {"a": 1}
    assert isinstance(values[1], BadLine) and values[1].error.startswith("line 2 is not JSON")


def test_to_event_keeps_the_object_as_sent() -> None:
    item = check_item({"event_type": "deploy", "timestamp": 1714564740, "x": 1}, ARRIVAL)
    assert isinstance(item, Item)
    event = to_event(item, event_id="e1", tenant="acme", received_at=ARRIVAL)
    assert (event.event_id, event.tenant, event.event_type, event.kind) == ("e1", "acme", "deploy", "deploy")
    assert event.time == datetime(2024, 5, 1, 11, 59, tzinfo=UTC) and event.received_at == ARRIVAL
    assert event.payload == {"event_type": "deploy", "timestamp": 1714564740, "x": 1}


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, ""), ("application/json", "application/json"), ("Application/X-NDJSON ; charset=utf-8", NDJSON)],
)
def test_media_type(header: str | None, expected: str) -> None:
    assert media_type(header) == expected
