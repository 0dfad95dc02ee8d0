"""What a KV bucket holds now, read with a pull consumer until nothing is pending.

nats-py's `KeyValue.watch()` (and `watchall()`, `keys()`) says "no more" when the consumer has nothing pending and
its callback has seen nothing yet, which on a busy machine can come before the entries already on their way: a
one-shot read then misses keys (the rules a shard loads, the scheduler's cursors, a snapshot's parts). A pull
consumer's own `num_pending` on the last message fetched does not race.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import nats.errors
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.kv import KeyValue

FETCH = 256  # entries per fetch
FETCH_WAIT = 2.0  # seconds a fetch waits for the first message
LINGER_SECONDS = 30.0  # an ephemeral listing consumer left behind (its reader died) is removed after this idle
_OPERATION = "KV-Operation"  # set on a delete or purge marker, absent on a value


@dataclass(frozen=True)
class Held:
    """A key's entry: a value, or (`deleted`) a delete or purge marker."""

    key: str
    value: bytes
    revision: int
    deleted: bool = False


async def held_entries(kv: KeyValue, pattern: str = ">", *, values: bool = True) -> list[Held]:
    """The latest entry of each key matching `pattern` (NATS wildcards) that holds a value (deletes and purges
    left out), in stream order; with `values=False` only the keys are read (every `value` is empty)."""
    latest = await _read(kv, pattern, DeliverPolicy.LAST_PER_SUBJECT, headers_only=not values)
    return [entry for entry in latest if not entry.deleted]


async def held_keys(kv: KeyValue, pattern: str = ">") -> list[str]:
    """The keys matching `pattern` that hold a value now, sorted."""
    return sorted(entry.key for entry in await held_entries(kv, pattern, values=False))


async def history(kv: KeyValue, pattern: str = ">") -> list[Held]:
    """Every entry the bucket keeps of the keys matching `pattern` (its history, deletes included), in stream order."""
    return await _read(kv, pattern, DeliverPolicy.ALL, headers_only=False)


async def _read(kv: KeyValue, pattern: str, deliver: DeliverPolicy, *, headers_only: bool) -> list[Held]:
    # nats-py keeps a bucket's JetStream context private; the stream and subjects are the KV conventions it follows.
    js, bucket = kv._js, kv._name
    prefix = f"$KV.{bucket}."
    stream = f"KV_{bucket}"
    config = ConsumerConfig(
        deliver_policy=deliver,
        ack_policy=AckPolicy.NONE,
        headers_only=headers_only,
        inactive_threshold=LINGER_SECONDS,
    )
    sub = await js.pull_subscribe(f"{prefix}{pattern}", stream=stream, config=config)
    found: list[Held] = []
    name: str | None = None
    try:
        info = await sub.consumer_info()
        name = info.name
        if info.num_pending == 0:  # nothing matches: no fetch to wait out
            return found
        while True:
            try:
                msgs = await sub.fetch(FETCH, timeout=FETCH_WAIT)
            except nats.errors.TimeoutError:
                break
            for msg in msgs:
                deleted = (msg.headers or {}).get(_OPERATION) is not None
                data = b"" if headers_only else msg.data
                found.append(Held(msg.subject[len(prefix) :], data, msg.metadata.sequence.stream, deleted))
            if not msgs or msgs[-1].metadata.num_pending == 0:
                break
    finally:
        await sub.unsubscribe()
        if name is not None:  # else the server removes it once it has been idle LINGER_SECONDS
            with contextlib.suppress(Exception):
                await js.delete_consumer(stream, name)
    return found
