"""The shard actor: a thin Ray shell around the domain's RuleEngine, one per rule shard."""

from __future__ import annotations

import os
from typing import Any

import ray

from services.common.domain.engine import RuleEngine


@ray.remote
class ShardActor:
    """Owns one slice of the (rule, group key) space; the driver only makes control calls on it."""

    def __init__(self, shard: int, shards: int) -> None:
        self.shard = shard
        self.shards = shards
        self.engine = RuleEngine()

    async def status(self) -> dict[str, Any]:
        """Liveness and size figures for `ShardStatus` and readiness."""
        return {"shard": self.shard, "pid": os.getpid(), "rules": len(self.engine.rules())}
