"""What a shard snapshot holds: a full `ShardSnapshot`, or a `ShardDelta` that brings one forward (pure, no I/O).

A full snapshot is O(all series) to build and encode; a delta holds only what changed since the capture before
it (rules added, replaced or removed; series stored or dropped), so capturing one under the state lock costs
O(changed). Applied in order to the full snapshot they follow, deltas give exactly the full snapshot of the state
at the last one's sequence (tests/evaluator/test_snapshot_deltas.py checks that on random input).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

from services.common.domain.evaluation.snapshot_changes import apply_changes, in_order
from services.common.domain.rules.model import Rule
from services.common.messages import codec
from services.evaluator.work import RawDone

# Snapshots are zlib-compressed JSON behind this marker (the JSON of many series repeats its keys: about a tenth
# of the size), so a shard of ~50k series fits the bucket's 8 MiB value limit; plain JSON still decodes.
_COMPRESSED = b"Z1"


def _pieces(engine: dict[str, Any]) -> dict[str, Any]:
    """The engine's body with its rules encoded one rule at a time (`codec.dumps_by_entry`): the same JSON, but the
    thread that encodes a snapshot never holds the interpreter for the whole of it (one orjson call over a shard of
    50k series took 70-75 ms on an idle core, longer on a busy one: a pause of the consume loop)."""
    rules = engine.get("rules")
    return {**engine, "rules": codec.dumps_by_entry(rules)} if isinstance(rules, dict) else engine


@dataclass(frozen=True)
class ShardSnapshot:
    """The state after every work message up to stream sequence `seq`: the rules held and the engine's series.

    `raw_done` holds the last raw position (raw sequence, index) applied per tenant: a later copy of one is a
    router replay.
    """

    seq: int
    rules: list[dict[str, Any]]
    engine: dict[str, Any]
    raw_done: RawDone = field(default_factory=RawDone)

    def json(self) -> bytes:
        """The snapshot as JSON, before compression (`compress` makes it what is stored)."""
        body = {"seq": self.seq, "rules": self.rules, "engine": _pieces(self.engine), **self.raw_done.encode()}
        return codec.dumps(body)

    def encode(self) -> bytes:
        return compress(self.json())

    @classmethod
    def decode(cls, data: bytes) -> ShardSnapshot:
        body = codec.loads(decompress(data))
        raw_done = RawDone.decode(body)  # a snapshot of an earlier version: one position, or nothing recorded
        return cls(int(body["seq"]), list(body["rules"]), dict(body["engine"]), raw_done)

    def rule_models(self) -> list[Rule]:
        return [Rule.model_validate(rule) for rule in self.rules]

    def in_order(self) -> ShardSnapshot:
        """This snapshot with rules, and series, sorted as a full capture writes them (after deltas were applied)."""
        rules = sorted(self.rules, key=lambda rule: str(rule["rule_id"]))
        return ShardSnapshot(self.seq, rules, in_order(self.engine), self.raw_done)


@dataclass(frozen=True)
class ShardDelta:
    """What changed from the capture at sequence `after` to the one at `seq`.

    `rules`: each rule added or replaced (its canonical JSON) or removed (None); `engine`: the engine's `changes()`.
    """

    seq: int
    after: int
    rules: dict[str, dict[str, Any] | None]
    engine: dict[str, Any]
    raw_done: RawDone

    def json(self) -> bytes:
        body = {
            "delta": 1,
            "seq": self.seq,
            "after": self.after,
            "rules": self.rules,
            "engine": _pieces(self.engine),
            **self.raw_done.encode(),
        }
        return codec.dumps(body)

    @classmethod
    def decode(cls, data: bytes) -> ShardDelta:
        body = codec.loads(decompress(data))
        if body.get("delta") != 1:
            raise ValueError("not a snapshot delta")
        rules = {str(rule_id): rule for rule_id, rule in dict(body["rules"]).items()}
        return cls(int(body["seq"]), int(body["after"]), rules, dict(body["engine"]), RawDone.decode(body))

    @property
    def empty(self) -> bool:
        return not self.rules and not self.engine["rules"]

    def apply_to(self, snapshot: ShardSnapshot) -> ShardSnapshot:
        """`snapshot` brought forward by this delta. Its engine dicts are changed in place (O(changed)): the caller
        owns them. ValueError when the delta does not follow that snapshot."""
        if self.after != snapshot.seq:
            raise ValueError(f"a delta after sequence {self.after} does not follow a snapshot at {snapshot.seq}")
        rules = snapshot.rules
        if self.rules:
            held = {str(rule["rule_id"]): rule for rule in rules}
            for rule_id, rule in self.rules.items():
                if rule is None:
                    held.pop(rule_id, None)
                else:
                    held[rule_id] = rule
            rules = [held[rule_id] for rule_id in sorted(held)]
        apply_changes(snapshot.engine, self.engine)
        return ShardSnapshot(self.seq, rules, snapshot.engine, self.raw_done)


def compress(body: bytes) -> bytes:
    """A snapshot's JSON as stored (zlib releases the GIL: callers may run it in a thread)."""
    return _COMPRESSED + zlib.compress(body, 1)


def decompress(data: bytes) -> bytes:
    """The JSON of a stored snapshot or delta (plain JSON, from earlier versions, as it is)."""
    if not data.startswith(_COMPRESSED):
        return data
    try:
        return zlib.decompress(data[len(_COMPRESSED) :])
    except zlib.error as exc:
        raise ValueError(f"corrupt compressed snapshot: {exc}") from exc
