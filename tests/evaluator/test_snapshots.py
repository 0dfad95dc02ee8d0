"""Shard snapshots: compressed, older plain-JSON and single-value snapshots still read, and one over the bucket's
value limit written in parts under a manifest: restored only whole and matching its digest, never dropped."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client
from nats.js.client import JetStreamContext

from services.common.messages import codec
from services.common.nats.kv_listing import held_keys
from services.common.nats.streams import ensure_streams
from services.evaluator.snapshot_bodies import ShardDelta
from services.evaluator.snapshots import (
    CHAIN_MARKER,
    DEFAULT_PART_BYTES,
    MANIFEST_MARKER,
    PART_HEADROOM,
    VALUE_LIMIT,
    ShardSnapshot,
    SnapshotStore,
    Superseded,
    compress,
    part_size,
    snapshot_bucket,
)
from services.evaluator.work import RawDone
from tests.support.nats import NatsServer


def _many_series(count: int) -> dict[str, object]:
    series = {f"host-{n}": {"phase": "ok", "window": {"samples": [[1700000000 + n, 42.5]]}} for n in range(count)}
    return {"format": 1, "rules": {"rule-1": {"semantics": "x", "series": series}}}


def test_snapshots_are_compressed_and_round_trip() -> None:
    snapshot = ShardSnapshot(
        41, [{"rule_id": "rule-1"}], _many_series(20_000), raw_done=RawDone((1234, 5), {"acme": (1300, 0)})
    )
    data = snapshot.encode()
    plain = codec.dumps({"seq": 41, "rules": snapshot.rules, "engine": snapshot.engine})
    assert len(data) * 5 < len(plain)  # repetitive JSON: a fifth of the size at most
    assert ShardSnapshot.decode(data) == snapshot


def test_a_plain_json_snapshot_of_an_older_version_still_decodes() -> None:
    plain = codec.dumps({"seq": 7, "rules": [], "engine": {"format": 1, "rules": {}}})
    assert ShardSnapshot.decode(plain) == ShardSnapshot(7, [], {"format": 1, "rules": {}})
    assert ShardSnapshot.decode(plain).raw_done == RawDone()  # no raw position recorded: nothing is a copy yet


def test_a_snapshot_of_an_earlier_version_reads_its_one_raw_position_as_every_tenants_floor() -> None:
    plain = codec.dumps({"seq": 7, "rules": [], "engine": {"format": 1, "rules": {}}, "raw_done": [120, 3]})
    done = ShardSnapshot.decode(plain).raw_done
    assert done == RawDone((120, 3)) and done.of("acme") == (120, 3) == done.of("beta")


def test_a_corrupt_compressed_snapshot_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="corrupt"):
        ShardSnapshot.decode(b"Z1not zlib")


@pytest.fixture
async def nats_client(nats_server: NatsServer) -> AsyncIterator[Client]:
    client = await nats.connect(nats_server.url)
    yield client
    await client.drain()


def noise(size: int) -> str:
    return base64.b64encode(os.urandom(size)).decode()  # does not compress


async def store_of(js: JetStreamContext, part_bytes: int) -> SnapshotStore:
    await ensure_streams(js)
    return SnapshotStore(await snapshot_bucket(js), int(uuid.uuid4().int % 100_000) + 1000, part_bytes)


async def parts_of(store: SnapshotStore) -> list[str]:
    """The store's part keys that hold a value now."""
    return await held_keys(store.kv, f"{store.key}.*")


def test_a_part_fits_the_bucket_and_the_connection() -> None:
    assert part_size(1 << 20) == (1 << 20) - PART_HEADROOM  # this session's nats-server: 1 MiB payloads
    assert part_size(64 << 20) == VALUE_LIMIT - PART_HEADROOM == DEFAULT_PART_BYTES  # the bucket's 8 MiB
    assert VALUE_LIMIT == 8 << 20


async def test_a_snapshot_over_the_value_limit_round_trips_in_parts(js: JetStreamContext, nats_client: Client) -> None:
    store = await store_of(js, part_size(nats_client.max_payload))
    big = ShardSnapshot(77, [{"rule_id": "rule-1"}], {"noise": noise(9 << 20)}, raw_done=RawDone((9, 1)))
    data = big.encode()
    assert len(data) > 8 << 20  # over the bucket's value limit, let alone this server's 1 MiB payloads
    await store.save(data, big.seq)
    manifest = (await store.kv.get(store.key)).value or b""
    assert manifest.startswith(MANIFEST_MARKER) and len(manifest) < 4096
    body = codec.loads(manifest[len(MANIFEST_MARKER) :])
    assert body["seq"] == 77 and body["size"] == len(data) and len(body["parts"]) == len(await parts_of(store)) > 8
    fresh = SnapshotStore(store.kv, int(store.key.split("-")[1]))
    assert await fresh.load() == big
    # The next snapshot replaces the parts: the old ones go once its manifest is in; a small one is one value again.
    small = ShardSnapshot(78, [], {"format": 1, "rules": {}})
    await fresh.save(small.encode(), small.seq)
    assert await parts_of(store) == [] and await SnapshotStore(store.kv, 0, key=store.key).load() == small


async def test_a_save_cut_short_before_its_manifest_leaves_the_previous_snapshot(js: JetStreamContext) -> None:
    store = await store_of(js, part_bytes=64 << 10)
    first = ShardSnapshot(5, [], {"noise": noise(300 << 10)})
    await store.save(first.encode(), first.seq)
    kept = await parts_of(store)
    # A crash after the parts of the next snapshot were written and before its manifest: parts without a manifest.
    orphans = await store._write_parts(ShardSnapshot(6, [], {"noise": noise(300 << 10)}).encode())
    reader = SnapshotStore.at(store.kv, store.key)
    assert await reader.load() == first  # the previous complete snapshot is what restores
    assert await reader.sweep() == len(orphans)  # a resuming shard removes what the crash left
    assert await parts_of(store) == kept


async def test_parts_that_do_not_match_the_manifest_are_not_restored(js: JetStreamContext) -> None:
    store = await store_of(js, part_bytes=64 << 10)
    snapshot = ShardSnapshot(5, [], {"noise": noise(300 << 10)})
    await store.save(snapshot.encode(), snapshot.seq)
    first, *_ = store.parts
    await store.kv.put(first, b"x" * (64 << 10))  # same size, other bytes
    assert await SnapshotStore.at(store.kv, store.key).load() is None  # the shard replays instead
    await store.kv.purge(first)
    assert await SnapshotStore.at(store.kv, store.key).load() is None


async def test_an_older_single_value_snapshot_still_restores_and_is_replaced(js: JetStreamContext) -> None:
    store = await store_of(js, part_bytes=64 << 10)
    old = ShardSnapshot(3, [], {"format": 1, "rules": {}})
    await store.kv.put(store.key, old.encode())  # as every earlier version wrote it
    reader = SnapshotStore.at(store.kv, store.key, 64 << 10)
    assert await reader.load() == old
    big = ShardSnapshot(4, [], {"noise": noise(200 << 10)})
    await reader.save(big.encode(), big.seq)
    assert await SnapshotStore.at(store.kv, store.key).load() == big


async def test_a_stale_writer_is_superseded_and_leaves_no_parts(js: JetStreamContext) -> None:
    store = await store_of(js, part_bytes=64 << 10)
    await store.save(ShardSnapshot(1, [], {}).encode(), 1)
    stale = SnapshotStore.at(store.kv, store.key, 64 << 10)
    await stale.load()
    await store.save(ShardSnapshot(2, [], {}).encode(), 2)  # the newer incarnation writes first
    with pytest.raises(Superseded):
        await stale.save(ShardSnapshot(3, [], {"noise": noise(200 << 10)}).encode(), 3)
    assert await parts_of(store) == []
    assert (await SnapshotStore.at(store.kv, store.key).load()) == ShardSnapshot(2, [], {})


def _engine(series: dict[str, object]) -> dict[str, object]:
    return {"format": 1, "rules": {"rule-1": {"semantics": "x", "series": series}} if series else {}}


def _delta(seq: int, after: int, series: dict[str, object], removed: list[str]) -> ShardDelta:
    rules = {"rule-1": {"semantics": "x", "series": series, "removed": removed}}
    return ShardDelta(seq, after, {}, {"format": 1, "rules": rules}, RawDone((seq, 0)))


async def test_a_base_and_its_deltas_round_trip_under_a_chain_manifest(js: JetStreamContext) -> None:
    store = await store_of(js, part_bytes=64 << 10)
    base = ShardSnapshot(10, [{"rule_id": "rule-1"}], _engine({"a": 1, "b": 2}), RawDone((10, 0)))
    await store.save_base(base.encode(), base.seq)
    await store.save_delta(compress(_delta(12, 10, {"b": 3, "c": 4}, []).json()), 12)
    await store.save_delta(compress(_delta(15, 12, {}, ["a"]).json()), 15)
    value = (await store.kv.get(store.key)).value or b""
    assert value.startswith(CHAIN_MARKER) and await parts_of(store) == sorted(store.parts)  # one part per piece
    reader = SnapshotStore.at(store.kv, store.key)
    assert await reader.load() == ShardSnapshot(
        15, [{"rule_id": "rule-1"}], _engine({"b": 3, "c": 4}), RawDone((15, 0))
    )
    assert await reader.sweep() == 0  # every piece's part is in use
    full = ShardSnapshot.decode(await SnapshotStore.at(store.kv, store.key).load_data() or b"")
    assert full.seq == 15 and full.engine == _engine({"b": 3, "c": 4})  # what the rebalance copies: one snapshot
    # A new base replaces the chain: the old pieces' parts go once its manifest is in.
    await store.save_base(ShardSnapshot(16, [], _engine({})).encode(), 16)
    assert len(await parts_of(store)) == 1 and await reader.load() == ShardSnapshot(16, [], _engine({}))


async def test_a_chain_with_a_piece_missing_or_out_of_order_is_not_restored(js: JetStreamContext) -> None:
    store = await store_of(js, part_bytes=64 << 10)
    await store.save_base(ShardSnapshot(10, [], _engine({"a": 1})).encode(), 10)
    await store.save_delta(compress(_delta(12, 11, {"a": 2}, []).json()), 12)  # follows 11, not the base's 10
    assert await SnapshotStore.at(store.kv, store.key).load() is None  # the shard replays instead
    await store.save_base(ShardSnapshot(10, [], _engine({"a": 1})).encode(), 10)
    await store.save_delta(compress(_delta(12, 10, {"a": 2}, []).json()), 12)
    await store.kv.purge(store.parts[-1])
    assert await SnapshotStore.at(store.kv, store.key).load() is None


async def test_a_stale_writer_of_a_delta_is_superseded_and_leaves_no_parts(js: JetStreamContext) -> None:
    store = await store_of(js, part_bytes=64 << 10)
    await store.save_base(ShardSnapshot(1, [], _engine({"a": 1})).encode(), 1)
    stale = SnapshotStore.at(store.kv, store.key, 64 << 10)
    await stale.load()
    await store.save_delta(compress(_delta(2, 1, {"a": 2}, []).json()), 2)  # the newer incarnation writes first
    kept = await parts_of(store)
    with pytest.raises(Superseded):
        await stale.save_delta(compress(_delta(3, 1, {"a": 3}, []).json()), 3)
    assert await parts_of(store) == kept
    assert await SnapshotStore.at(store.kv, store.key).load() == ShardSnapshot(
        2, [], _engine({"a": 2}), RawDone((2, 0))
    )
