"""Which evaluator shard owns a rule: a stable hash of the rule id, the same in every process and release."""

from __future__ import annotations

import hashlib


def shard_for(rule_id: str, shards: int) -> int:
    """The shard (0 .. shards-1) that owns a rule; sha256-based, so unlike `hash()` it is stable across processes."""
    if shards < 1:
        raise ValueError("the number of shards is at least 1")
    digest = hashlib.sha256(rule_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % shards
