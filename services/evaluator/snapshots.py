"""Shard snapshots in the `cep-snapshots` bucket, and the rules a shard owns when it has none (the rule bucket)."""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass
from typing import Any

import nats.errors
from nats.js.client import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from services.common import codec, subjects
from services.common.domain.rules import Rule
from services.common.domain.sharding import shard_for

log = logging.getLogger(__name__)

WATCH_SECONDS = 10.0
# Snapshots are zlib-compressed JSON behind this marker (the JSON of many series repeats its keys: about a tenth
# of the size), so a shard of ~50k series fits the bucket's 8 MiB value limit; plain JSON still decodes.
_COMPRESSED = b"Z1"


class Superseded(RuntimeError):
    """Another incarnation of this shard wrote the snapshot since we read it: this one must stop."""


@dataclass(frozen=True)
class ShardSnapshot:
    """The state after every work message up to stream sequence `seq`: the rules held and the engine's series.

    `raw_done` is the last raw position (raw sequence, index) applied: a later copy of it is a router replay.
    """

    seq: int
    rules: list[dict[str, Any]]
    engine: dict[str, Any]
    raw_done: tuple[int, int] = (0, 0)

    def encode(self) -> bytes:
        body = {"seq": self.seq, "rules": self.rules, "engine": self.engine, "raw_done": list(self.raw_done)}
        return _COMPRESSED + zlib.compress(codec.dumps(body), 1)

    @classmethod
    def decode(cls, data: bytes) -> ShardSnapshot:
        if data.startswith(_COMPRESSED):
            try:
                data = zlib.decompress(data[len(_COMPRESSED) :])
            except zlib.error as exc:
                raise ValueError(f"corrupt compressed snapshot: {exc}") from exc
        body = codec.loads(data)
        raw = body.get("raw_done") or (0, 0)  # a snapshot of an earlier version: nothing recorded
        return cls(int(body["seq"]), list(body["rules"]), dict(body["engine"]), (int(raw[0]), int(raw[1])))

    def rule_models(self) -> list[Rule]:
        return [Rule.model_validate(rule) for rule in self.rules]


class SnapshotTooLarge(RuntimeError):
    """The encoded snapshot is over the bucket's value limit (NATS max payload): it was not written."""


class SnapshotStore:
    """Reads and writes one shard's snapshot; writes are conditional on the revision last read or written.

    The condition fences off a stale incarnation: if another one wrote since, `save` raises Superseded.
    """

    def __init__(self, kv: KeyValue, shard: int) -> None:
        self.kv = kv
        self.key = subjects.snapshot_key(shard)
        self.revision: int | None = None

    async def load(self) -> ShardSnapshot | None:
        """The stored snapshot, or None when there is none (or it cannot be read: then we rebuild from the stream)."""
        try:
            entry = await self.kv.get(self.key)
        except KeyNotFoundError:
            self.revision = None
            return None
        self.revision = entry.revision
        try:
            return ShardSnapshot.decode(entry.value or b"")
        except (ValueError, KeyError, TypeError) as exc:
            log.error("unreadable snapshot %s ignored: %s", self.key, exc)
            return None

    async def save(self, data: bytes) -> int:
        """Write an encoded snapshot; returns the new revision."""
        try:
            if self.revision is None:
                self.revision = await self.kv.create(self.key, data)
            else:
                self.revision = await self.kv.update(self.key, data, last=self.revision)
        except KeyWrongLastSequenceError as exc:
            raise Superseded(f"snapshot {self.key} was written by another incarnation") from exc
        except nats.errors.MaxPayloadError as exc:
            raise SnapshotTooLarge(f"snapshot {self.key} is {len(data)} bytes, over the value limit") from exc
        return self.revision


async def snapshot_bucket(js: JetStreamContext) -> KeyValue:
    return await js.key_value(subjects.SNAPSHOTS_BUCKET)


async def owned_rules(js: JetStreamContext, shard: int, shards: int) -> list[Rule]:
    """Every rule of the rule bucket that this shard owns, active or not (one watch, not a request per key)."""
    kv = await js.key_value(subjects.RULES_BUCKET)
    watcher = await kv.watchall(ignore_deletes=True)
    rules: list[Rule] = []
    try:
        while True:
            try:
                entry = await watcher.updates(timeout=WATCH_SECONDS)
            except nats.errors.TimeoutError:
                raise TimeoutError("reading the rule bucket timed out") from None
            if entry is None:
                break
            rule_id = entry.key.split(".", 1)[-1]
            if not entry.value or shard_for(rule_id, shards) != shard:
                continue
            try:
                rules.append(Rule.model_validate(codec.loads(entry.value)))
            except ValueError as exc:
                log.error("unreadable rule %s in the rule bucket skipped: %s", entry.key, exc)
    finally:
        await watcher.stop()
    return rules
