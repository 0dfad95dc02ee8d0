"""Instance heartbeats: every replica writes `instance.<id>` in the live bucket; a dead one's key expires."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from nats.js.kv import KeyValue

from services.common.domain.events.model import format_time
from services.common.messages import codec
from services.common.nats import subjects
from services.common.nats.lease import Lease


def heartbeat(lease: Lease, started_at: datetime, rules: int) -> dict[str, Any]:
    """What an instance says about itself: who, since when, its role and term, and how many rules it sees."""
    return {
        "instance": lease.instance,
        "host": os.uname().nodename,
        "pid": os.getpid(),
        "started_at": format_time(started_at),
        "seen_at": format_time(datetime.now(UTC)),
        "role": "leader" if lease.held else "follower",
        "fencing": lease.fencing if lease.held else None,
        "rules": rules,
    }


async def beat(kv: KeyValue, lease: Lease, started_at: datetime, rules: int) -> None:
    await kv.put(subjects.scheduler_instance_key(lease.instance), codec.dumps(heartbeat(lease, started_at, rules)))
