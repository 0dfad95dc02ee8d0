"""Shard snapshots: compressed so large states fit the bucket, older plain-JSON snapshots still read, and one
over the limit is refused with SnapshotTooLarge (never a NATS error the shard would rewind on)."""

from __future__ import annotations

import base64
import os
import uuid

import pytest
from nats.js.client import JetStreamContext

from services.common import codec
from services.common.streams import ensure_streams
from services.evaluator.snapshots import ShardSnapshot, SnapshotStore, SnapshotTooLarge, snapshot_bucket


def _many_series(count: int) -> dict[str, object]:
    series = {f"host-{n}": {"phase": "ok", "window": {"samples": [[1700000000 + n, 42.5]]}} for n in range(count)}
    return {"format": 1, "rules": {"rule-1": {"semantics": "x", "series": series}}}


def test_snapshots_are_compressed_and_round_trip() -> None:
    snapshot = ShardSnapshot(41, [{"rule_id": "rule-1"}], _many_series(20_000), raw_done=(1234, 5))
    data = snapshot.encode()
    plain = codec.dumps({"seq": 41, "rules": snapshot.rules, "engine": snapshot.engine})
    assert len(data) * 5 < len(plain)  # repetitive JSON: a fifth of the size at most
    assert ShardSnapshot.decode(data) == snapshot


def test_a_plain_json_snapshot_of_an_older_version_still_decodes() -> None:
    plain = codec.dumps({"seq": 7, "rules": [], "engine": {"format": 1, "rules": {}}})
    assert ShardSnapshot.decode(plain) == ShardSnapshot(7, [], {"format": 1, "rules": {}})
    assert ShardSnapshot.decode(plain).raw_done == (0, 0)  # no raw position recorded: nothing is a copy yet


def test_a_corrupt_compressed_snapshot_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="corrupt"):
        ShardSnapshot.decode(b"Z1not zlib")


async def test_a_snapshot_over_the_value_limit_is_refused_as_too_large(js: JetStreamContext) -> None:
    await ensure_streams(js)
    store = SnapshotStore(await snapshot_bucket(js), shard=int(uuid.uuid4().int % 100_000) + 1000)
    noise = base64.b64encode(os.urandom(12 << 20)).decode()  # incompressible past 8 MiB
    with pytest.raises(SnapshotTooLarge, match="over the value limit"):
        await store.save(ShardSnapshot(1, [], {"noise": noise}).encode())
    assert await store.load() is None  # nothing was written
