"""Shard snapshots in the `cep-snapshots` bucket, and the rules a shard owns when it has none (the rule bucket).

A snapshot larger than one value is split into parts under a manifest, written last: never dropped for its size.
A shard writes incrementally: a full base, then deltas (snapshot_bodies.py), each in parts under a chain manifest
that lists them all, rewritten (fenced) after each; a load applies the deltas to the base in order.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import uuid
from dataclasses import dataclass
from typing import Any

import nats.errors
from nats.js.client import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from services.common.domain.evaluation.sharding import SERIES, Placement, Scheme
from services.common.domain.rules.model import Rule
from services.common.messages import codec
from services.common.nats import subjects
from services.common.nats.kv_listing import held_entries, held_keys
from services.common.nats.streams import BUCKETS
from services.evaluator.snapshot_bodies import ShardDelta, ShardSnapshot
from services.evaluator.snapshot_bodies import compress as compress  # where callers have always found it

log = logging.getLogger(__name__)

# A snapshot over one value is stored in parts behind a manifest that starts with this marker (snapshots.py).
MANIFEST_MARKER = b"M1"
# An incremental snapshot (a base and its deltas, each in parts) is stored behind a chain manifest with this marker.
CHAIN_MARKER = b"C1"
VALUE_LIMIT = next(int(b.max_value_size or 0) for b in BUCKETS if b.bucket == subjects.SNAPSHOTS_BUCKET)
PART_HEADROOM = 64 << 10  # room for a message's subject and headers under the payload limit
DEFAULT_PART_BYTES = VALUE_LIMIT - PART_HEADROOM  # nats-server's max_payload as `cep up` and Kubernetes set it


class Superseded(RuntimeError):
    """Another incarnation of this shard wrote the snapshot since we read it: this one must stop."""


class SnapshotTooLarge(RuntimeError):
    """A value of the snapshot (a part, or the manifest) is over NATS's payload limit: the snapshot was not written."""


@dataclass(frozen=True)
class Manifest:
    """A snapshot stored in parts: the work-stream sequence it covers, its part keys in order, size and digest.

    Written after every part, so a crash in between leaves the previous snapshot (manifest and parts) in place.
    """

    seq: int
    parts: list[str]
    size: int
    digest: str  # sha256 of the encoded snapshot (the parts joined)

    def encode(self) -> bytes:
        body = {"seq": self.seq, "parts": self.parts, "size": self.size, "sha256": self.digest}
        return MANIFEST_MARKER + codec.dumps(body)

    @classmethod
    def decode(cls, data: bytes) -> Manifest:
        body = codec.loads(data[len(MANIFEST_MARKER) :])
        return cls(int(body["seq"]), [str(key) for key in body["parts"]], int(body["size"]), str(body["sha256"]))


@dataclass(frozen=True)
class Chain:
    """An incremental snapshot: a full base and the deltas after it, in order, each stored in parts (`Manifest`).

    Rewritten under the shard's key after every part of a new base or delta is in, so a crash in between leaves
    the previous chain whole.
    """

    base: Manifest
    deltas: tuple[Manifest, ...] = ()

    @property
    def seq(self) -> int:
        return self.deltas[-1].seq if self.deltas else self.base.seq

    @property
    def parts(self) -> list[str]:
        return [key for piece in (self.base, *self.deltas) for key in piece.parts]

    @property
    def delta_bytes(self) -> int:
        return sum(delta.size for delta in self.deltas)

    def encode(self) -> bytes:
        pieces = [_piece(piece) for piece in (self.base, *self.deltas)]
        return CHAIN_MARKER + codec.dumps({"seq": self.seq, "base": pieces[0], "deltas": pieces[1:]})

    @classmethod
    def decode(cls, data: bytes) -> Chain:
        body = codec.loads(data[len(CHAIN_MARKER) :])
        chain = cls(_manifest(body["base"]), tuple(_manifest(piece) for piece in body["deltas"]))
        if chain.seq != int(body["seq"]):
            raise ValueError(f"a chain manifest of sequence {body['seq']} whose pieces end at {chain.seq}")
        return chain


def _piece(manifest: Manifest) -> dict[str, Any]:
    return {"seq": manifest.seq, "parts": manifest.parts, "size": manifest.size, "sha256": manifest.digest}


def _manifest(body: dict[str, Any]) -> Manifest:
    return Manifest(int(body["seq"]), [str(key) for key in body["parts"]], int(body["size"]), str(body["sha256"]))


def part_size(max_payload: int) -> int:
    """The largest part to write: under both the bucket's value limit and the connection's payload limit."""
    return max(min(VALUE_LIMIT, max_payload) - PART_HEADROOM, 1024)


class SnapshotStore:
    """Reads and writes one snapshot key; writes are conditional on the revision last read or written.

    The condition fences off a stale incarnation: if another one wrote since, `save` raises Superseded.
    A snapshot up to `part_bytes` is one value (as every earlier version wrote it); a larger one is written in
    parts `<key>.part-<generation>-<n>` and then a manifest under the key. A generation is never reused, so no
    writer ever touches the parts of a complete snapshot; those of the previous one go once the manifest is in.
    Incremental snapshots (`save_base`, `save_delta`) are always in parts, under a chain manifest.
    """

    def __init__(
        self, kv: KeyValue, shard: int, part_bytes: int = DEFAULT_PART_BYTES, *, key: str | None = None
    ) -> None:
        self.kv = kv
        self.key = key or subjects.snapshot_key(shard)
        self.part_bytes = part_bytes
        self.revision: int | None = None
        self.parts: list[str] = []  # the parts of the snapshot last read or written: removed after the next one
        self.manifest: Manifest | None = None  # the manifest last read (None: a single value, a chain, or nothing)
        self.chain: Chain | None = None  # the chain last read or written (None: a full snapshot, or nothing)

    @classmethod
    def at(cls, kv: KeyValue, key: str, part_bytes: int = DEFAULT_PART_BYTES) -> SnapshotStore:
        """A store of another key than a shard's (the rebalance's staged snapshots)."""
        return cls(kv, 0, part_bytes, key=key)

    async def load(self) -> ShardSnapshot | None:
        """The stored snapshot (a chain's base with its deltas applied), or None when there is none or it cannot be
        read (then we rebuild from the stream)."""
        pieces = await self._load_pieces()
        if pieces is None:
            return None
        try:
            snapshot = ShardSnapshot.decode(pieces[0])
            for piece in pieces[1:]:
                snapshot = ShardDelta.decode(piece).apply_to(snapshot)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            log.error("unreadable snapshot %s ignored: %s", self.key, exc)
            return None
        covered = self.chain.seq if self.chain is not None else self.manifest.seq if self.manifest else None
        if covered is not None and covered != snapshot.seq:
            log.error("snapshot %s covers sequence %d, its manifest %d: ignored", self.key, snapshot.seq, covered)
            return None
        return snapshot.in_order() if len(pieces) > 1 else snapshot

    async def load_data(self) -> bytes | None:
        """The encoded snapshot, its parts joined and checked against the manifest; None when absent or broken.

        A chain is brought to one full snapshot (what `save` and `put` take)."""
        pieces = await self._load_pieces()
        if pieces is None or len(pieces) == 1:
            return None if pieces is None else pieces[0]
        snapshot = await self.load()
        return None if snapshot is None else snapshot.encode()

    async def _load_pieces(self) -> list[bytes] | None:
        """The encoded base and deltas in order (one piece for a full snapshot), checked; None when absent or broken."""
        try:
            entry = await self.kv.get(self.key)
        except KeyNotFoundError:
            self.revision, self.parts, self.manifest, self.chain = None, [], None, None
            return None
        self.revision = entry.revision
        self.parts, self.manifest, self.chain = [], None, None
        value = entry.value or b""
        try:
            if value.startswith(CHAIN_MARKER):
                self.chain = Chain.decode(value)
                self.parts = self.chain.parts
                return [await self._join(piece) for piece in (self.chain.base, *self.chain.deltas)]
            if value.startswith(MANIFEST_MARKER):
                self.manifest = Manifest.decode(value)
                self.parts = self.manifest.parts
                return [await self._join(self.manifest)]
        except (ValueError, KeyError, TypeError) as exc:
            log.error("snapshot %s not restorable from its parts, ignored: %s", self.key, exc)
            return None
        return [value]

    async def save(self, data: bytes, seq: int) -> int:
        """Write an encoded snapshot covering work sequence `seq`, fenced by the revision; returns the new one."""
        return await self._write(data, seq, fenced=True)

    async def save_base(self, data: bytes, seq: int) -> int:
        """Write an encoded full snapshot as the base of a new chain (fenced); the old chain's parts go after."""
        base = await self._piece(data, seq)
        return await self._commit(Chain(base), fenced=True)

    async def save_delta(self, data: bytes, seq: int) -> int:
        """Write an encoded `ShardDelta` at the end of the chain last written (fenced); the chain's parts stay."""
        if self.chain is None:
            raise RuntimeError(f"snapshot {self.key}: a delta needs a base written first")
        delta = await self._piece(data, seq)
        return await self._commit(Chain(self.chain.base, (*self.chain.deltas, delta)), fenced=True)

    async def put(self, data: bytes, seq: int) -> int:
        """Write an encoded snapshot whatever was there (the rebalance, before any actor runs), then sweep."""
        revision = await self._write(data, seq, fenced=False)
        await self.sweep()
        return revision

    async def sweep(self) -> int:
        """Remove the parts under this key that the current snapshot does not use (a save cut short); how many."""
        found = await held_keys(self.kv, f"{self.key}.*")
        used = set(self.parts)
        stale = [key for key in found if key not in used]
        await self._purge(stale)
        return len(stale)

    async def drop(self) -> None:
        """Remove the snapshot and every part under its key."""
        with contextlib.suppress(KeyNotFoundError):
            await self.kv.purge(self.key)
        self.revision, self.parts, self.manifest, self.chain = None, [], None, None
        await self.sweep()

    async def _write(self, data: bytes, seq: int, fenced: bool) -> int:
        parts = await self._write_parts(data) if len(data) > self.part_bytes else []
        value = data if not parts else Manifest(seq, parts, len(data), hashlib.sha256(data).hexdigest()).encode()
        revision = await self._put(value, parts, fenced)
        previous, self.parts, self.chain = self.parts, parts, None
        await self._purge([key for key in previous if key not in parts])  # generations differ: all of them
        return revision

    async def _piece(self, data: bytes, seq: int) -> Manifest:
        """One base or delta of a chain, written in parts (not referenced by the chain yet)."""
        parts = await self._write_parts(data)
        return Manifest(seq, parts, len(data), hashlib.sha256(data).hexdigest())

    async def _commit(self, chain: Chain, fenced: bool) -> int:
        """Write a chain manifest whose new pieces' parts are in; the parts no longer used go after."""
        parts = chain.parts
        fresh = [key for key in parts if key not in set(self.parts)]
        revision = await self._put(chain.encode(), fresh, fenced)
        previous, self.parts, self.chain = self.parts, parts, chain
        await self._purge([key for key in previous if key not in set(parts)])
        return revision

    async def _put(self, value: bytes, fresh: list[str], fenced: bool) -> int:
        """Write the key's value (fenced: only over the revision last read or written); the fresh parts go when not."""
        try:
            if not fenced:
                self.revision = await self.kv.put(self.key, value)
            elif self.revision is None:
                self.revision = await self.kv.create(self.key, value)
            else:
                self.revision = await self.kv.update(self.key, value, last=self.revision)
        except KeyWrongLastSequenceError as exc:
            await self._purge(fresh)
            raise Superseded(f"snapshot {self.key} was written by another incarnation") from exc
        except nats.errors.MaxPayloadError as exc:
            await self._purge(fresh)
            raise SnapshotTooLarge(f"snapshot {self.key} is {len(value)} bytes, over the value limit") from exc
        return self.revision

    async def _write_parts(self, data: bytes) -> list[str]:
        """Write the parts of a new generation (the manifest is not written yet); their keys, in order."""
        generation = uuid.uuid4().hex[:12]
        size = self.part_bytes
        keys = [f"{self.key}.part-{generation}-{n}" for n in range((len(data) + size - 1) // size)]
        try:
            for n, key in enumerate(keys):
                await self.kv.put(key, data[n * size : (n + 1) * size])
        except nats.errors.MaxPayloadError as exc:
            await self._purge(keys)
            raise SnapshotTooLarge(f"a part of snapshot {self.key} is over the value limit ({size} bytes)") from exc
        except Exception:
            await self._purge(keys)
            raise
        return keys

    async def _join(self, manifest: Manifest) -> bytes:
        chunks: list[bytes] = []
        for key in manifest.parts:
            try:
                chunks.append((await self.kv.get(key)).value or b"")
            except KeyNotFoundError:
                raise ValueError(f"part {key} is missing") from None
        data = b"".join(chunks)
        if len(data) != manifest.size or hashlib.sha256(data).hexdigest() != manifest.digest:
            raise ValueError(f"the parts hold {len(data)} bytes that do not match the manifest's size and digest")
        return data

    async def _purge(self, keys: list[str]) -> None:
        """Best effort: a part left behind only takes space until the next sweep."""
        for key in keys:
            try:
                await self.kv.purge(key)
            except Exception as exc:
                log.warning("snapshot part %s not removed: %s", key, exc)


async def snapshot_bucket(js: JetStreamContext) -> KeyValue:
    return await js.key_value(subjects.SNAPSHOTS_BUCKET)


async def owned_rules(js: JetStreamContext, shard: int, shards: int, scheme: Scheme = SERIES) -> list[Rule]:
    """Every rule of the rule bucket that this shard holds, active or not (one listing, not a request per key)."""
    placement = Placement(shards, scheme)
    kv = await js.key_value(subjects.RULES_BUCKET)
    rules: list[Rule] = []
    for entry in await held_entries(kv):
        rule_id = entry.key.split(".", 1)[-1]
        if not entry.value or not placement.holds(rule_id, shard):
            continue
        try:
            rules.append(Rule.model_validate(codec.loads(entry.value)))
        except ValueError as exc:
            log.error("unreadable rule %s in the rule bucket skipped: %s", entry.key, exc)
    return rules
