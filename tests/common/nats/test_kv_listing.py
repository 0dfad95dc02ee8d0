"""Listing a KV bucket reads every key it holds (more than one fetch's worth), leaves deletes and purges out, and
keeps a history with them when asked: against the session's real nats-server."""

from __future__ import annotations

import uuid

from nats.js.api import KeyValueConfig
from nats.js.client import JetStreamContext

from services.common.nats import kv_listing
from services.common.nats.kv_listing import held_entries, held_keys, history

KEYS = 2 * kv_listing.FETCH + 10  # more than two fetches


async def test_every_key_held_is_listed_with_its_latest_value_and_revision(js: JetStreamContext) -> None:
    bucket = f"listing-{uuid.uuid4().hex[:8]}"
    kv = await js.create_key_value(KeyValueConfig(bucket=bucket, history=5))
    for n in range(KEYS):
        await kv.put(f"a.k{n:04d}", b"one")
    latest = await kv.put("a.k0001", b"two")
    await kv.delete("a.k0002")
    await kv.purge("a.k0003")
    await kv.put("b.other", b"elsewhere")

    held = await held_entries(kv, "a.>")
    by_key = {entry.key: entry for entry in held}
    assert len(held) == KEYS - 2 and "a.k0002" not in by_key and "a.k0003" not in by_key
    assert (by_key["a.k0001"].value, by_key["a.k0001"].revision) == (b"two", latest)
    assert by_key["a.k0000"].value == b"one"
    assert await held_keys(kv, "a.>") == sorted(by_key)
    assert await held_keys(kv, "b.*") == ["b.other"]
    assert await held_keys(kv, "c.>") == []

    kept = [(entry.value, entry.deleted) for entry in await history(kv, "a.k0001")]
    assert kept == [(b"one", False), (b"two", False)]
    assert [entry.deleted for entry in await history(kv, "a.k0002")] == [False, True]
    assert [entry.deleted for entry in await history(kv, "a.k0003")] == [True]  # a purge keeps only its marker
    assert (await js.stream_info(f"KV_{bucket}")).state.consumer_count == 0  # every listing removed its consumer
