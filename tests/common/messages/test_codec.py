"""The JSON codec: a mapping encoded entry by entry (as a shard's snapshot is) is the same JSON as in one call."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from services.common.messages import codec


def test_a_mapping_encoded_by_entry_is_the_same_json() -> None:
    data = {"a": {"x": [1, 2.5, None]}, "b": datetime(2026, 1, 2, tzinfo=UTC), "c": {"nested": {"deep": "é"}}, "d": {}}
    whole = codec.dumps({"head": 1, "rules": data})
    assert codec.dumps({"head": 1, "rules": codec.dumps_by_entry(data)}) == whole
    assert orjson.loads(whole)["rules"]["b"] == "2026-01-02T00:00:00+00:00"
    assert codec.dumps(codec.dumps_by_entry({})) == b"{}"
