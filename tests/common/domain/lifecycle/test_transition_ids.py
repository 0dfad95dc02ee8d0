"""Transition, episode and fingerprint ids are hashes of a compact JSON text: the direct writer of that text
(`_compact_json`) must give exactly `json.dumps`'s text, or ids would change across versions."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from services.common.domain.lifecycle.transitions import _compact_json, episode_id, fingerprint, transition_id

_PARTS = st.lists(st.one_of(st.text(), st.integers(), st.booleans(), st.none(), st.floats(allow_nan=True)), max_size=8)


@given(_PARTS)
def test_compact_json_is_json_dumps(parts: list[Any]) -> None:
    assert _compact_json(parts) == json.dumps(parts, separators=(",", ":"))


def test_ids_are_stable() -> None:
    """Ids already stored (alerts, notifications, dedup keys) must keep matching: these are the values of before."""
    started = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    for _ in range(2):  # computed, then remembered
        assert fingerprint("acme", "r1", "host=a") == _old_digest("fingerprint", "acme", "r1", "host=a")
        assert episode_id("acme", "r1", 3, "k", started) == _old_digest(
            "episode", "acme", "r1", 3, "k", "2026-05-01T12:00:00Z"
        )
    later = started.astimezone(timezone(timedelta(hours=2)))  # the same instant elsewhere: the same id
    assert episode_id("acme", "r1", 3, "k", later) == episode_id("acme", "r1", 3, "k", started)
    assert fingerprint("acme", "r1", "host=b") != fingerprint("acme", "r1", "host=a")
    assert transition_id("acme", "r1", 3, 'host=é,x="1"', started, "fired") == _old_digest(
        "transition", "acme", "r1", 3, 'host=é,x="1"', "2026-05-01T12:00:00Z", "fired", 0
    )


def _old_digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(list(parts), separators=(",", ":")).encode()).hexdigest()[:32]
