"""The latest poll snapshots the scheduler leader keeps in the `cep-polling-snapshots` bucket, read by target."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from nats.js.client import JetStreamContext
from nats.js.errors import BucketNotFoundError, KeyNotFoundError
from nats.js.kv import KeyValue

from services.common.messages import codec
from services.common.nats import subjects

READS_IN_FLIGHT = 32


async def read_snapshots(js: JetStreamContext, tenant: str, target_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The latest snapshot of each of the tenant's targets that has been polled at least once, by target id."""
    try:
        kv = await js.key_value(subjects.POLLING_SNAPSHOTS_BUCKET)
    except BucketNotFoundError:
        return {}
    limit = asyncio.Semaphore(READS_IN_FLIGHT)

    async def read(target_id: str) -> tuple[str, dict[str, Any] | None]:
        async with limit:
            return target_id, await _snapshot(kv, subjects.polling_key(tenant, target_id))

    found = await asyncio.gather(*(read(t) for t in target_ids))
    return {target_id: body for target_id, body in found if body is not None}


async def _snapshot(kv: KeyValue, key: str) -> dict[str, Any] | None:
    try:
        entry = await kv.get(key)
    except KeyNotFoundError:
        return None
    try:
        body = codec.loads(entry.value or b"null")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
