"""A rule's error state as the API shows it: how often it raised on an event, had new series refused or dropped
partial matches at its pattern cap, and the latest error.

Counted by the dead-letter recorder from letters of source `rule_failure`, `series_refused` (the active-series
quota: "series quota of N per rule reached: ...") and `pattern_dropped` ("pattern cap of N partial matches per key
reached: ...") in services/gateway/store/dead_letters.py.
"""

from __future__ import annotations

from services.common.db.tables import RuleRow
from services.gateway import row_codec

FIELDS = ("error_count", "last_error", "last_error_at")


def error_state(row: RuleRow | None) -> dict[str, object]:
    """`error_count`, `last_error`, `last_error_at` of a stored rule (a rule not stored yet has none)."""
    if row is None:
        return {"error_count": 0, "last_error": None, "last_error_at": None}
    return {
        "error_count": row.error_count,
        "last_error": row.last_error,
        "last_error_at": row_codec.rfc3339(row.last_error_at),
    }
