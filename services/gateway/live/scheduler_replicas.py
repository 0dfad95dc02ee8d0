"""What the scheduler replicas say about themselves in their live bucket: the lease holder and the heartbeats."""

from __future__ import annotations

from typing import Any

from nats.js.client import JetStreamContext
from nats.js.errors import BucketNotFoundError

from services.common.messages import codec
from services.common.nats import subjects
from services.common.nats.kv_listing import held_entries


async def read_live(js: JetStreamContext) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """(leader, instances): the lease holder (`instance`, `fencing`, `since`) or None, and live instances by name.

    Keys expire one lease period after their last write, so what is here is alive (or died within a period).
    """
    try:
        kv = await js.key_value(subjects.SCHEDULER_LIVE_BUCKET)
    except BucketNotFoundError:
        return None, []  # no scheduler has ever started
    leader: dict[str, Any] | None = None
    instances: list[dict[str, Any]] = []
    for entry in await held_entries(kv):
        value = _json(entry.value)
        if value is None:
            continue
        if entry.key == subjects.SCHEDULER_LEADER_KEY:
            if value.get("fencing") is None:
                value["fencing"] = entry.revision
            leader = value
        elif entry.key.startswith("instance."):
            instances.append(value)
    holder = leader.get("instance") if leader else None
    for item in instances:
        item["leader"] = item.get("instance") == holder
    instances.sort(key=lambda item: str(item.get("instance")))
    return leader, instances


def _json(value: bytes | None) -> dict[str, Any] | None:
    try:
        body = codec.loads(value or b"null")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
