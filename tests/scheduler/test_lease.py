"""The leader lease on a real NATS KV bucket with a TTL: compare-and-set, renewal, expiry, fencing tokens."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from nats.js.api import KeyValueConfig, StorageType
from nats.js.client import JetStreamContext
from nats.js.kv import KeyValue

from services.common.nats.lease import SchedulerLease, current_leader

PERIOD = 1.0


@pytest.fixture
async def bucket(js: JetStreamContext) -> AsyncIterator[KeyValue]:
    """A fresh bucket configured like `cep-scheduler-live` (TTL = the lease period)."""
    name = f"lease-test-{uuid.uuid4().hex[:8]}"
    kv = await js.create_key_value(KeyValueConfig(bucket=name, history=1, ttl=PERIOD, storage=StorageType.FILE))
    yield kv
    await js.delete_key_value(name)


async def test_only_one_instance_holds_the_lease(bucket: KeyValue) -> None:
    a, b = SchedulerLease(bucket, "a", PERIOD), SchedulerLease(bucket, "b", PERIOD)
    assert await a.try_acquire()
    assert not await b.try_acquire()
    fencing = a.fencing
    for _ in range(6):  # renewing across several periods keeps it, with the same fencing token
        await asyncio.sleep(PERIOD / 4)
        assert await a.renew()
        assert not await b.try_acquire()
    assert a.held and a.fencing == fencing
    leader = await current_leader(bucket)
    assert leader is not None and (leader["instance"], leader["fencing"]) == ("a", fencing)


async def test_a_silent_leader_is_replaced_within_one_period_with_a_higher_fencing_token(bucket: KeyValue) -> None:
    a, b = SchedulerLease(bucket, "a", PERIOD), SchedulerLease(bucket, "b", PERIOD)
    assert await a.try_acquire()
    stopped = time.monotonic()  # a stops renewing (a killed or frozen leader)
    while not await b.try_acquire():
        assert time.monotonic() - stopped < PERIOD + 1.5, "the lease never expired"
        await asyncio.sleep(0.05)
    took = time.monotonic() - stopped
    assert took >= PERIOD * 0.9, f"taken after {took:.2f}s, before the period ran out"
    assert b.fencing is not None and a.fencing is not None and b.fencing > a.fencing
    assert not a.held, "a stopped trusting its lease before anyone else could take it"
    assert not await a.renew()  # the compare-and-set fails: someone else wrote the key
    assert a.fencing is None


async def test_a_released_lease_is_taken_at_once(bucket: KeyValue) -> None:
    a, b = SchedulerLease(bucket, "a", PERIOD), SchedulerLease(bucket, "b", PERIOD)
    assert await a.try_acquire()
    await a.release()
    assert not a.held
    assert await b.try_acquire()
    assert await current_leader(bucket) is not None
