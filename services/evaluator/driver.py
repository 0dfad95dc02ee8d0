"""The evaluator's Ray driver: starts one actor per shard and answers control calls about them."""

from __future__ import annotations

import asyncio
from typing import Any

import ray

from services.common.ops import CheckResult
from services.evaluator.shard import ShardActor

STATUS_TIMEOUT_SECONDS = 5.0


class ShardDriver:
    """Creates the shard actors and reports on them; events never pass through here."""

    def __init__(self, shards: int) -> None:
        self.count = shards
        self.actors: list[Any] = []

    def start(self) -> None:
        actor = ShardActor.options  # type: ignore[attr-defined]  # added by @ray.remote
        self.actors = [actor(name=f"shard-{i}").remote(i, self.count) for i in range(self.count)]

    def stop(self) -> None:
        for actor in self.actors:
            ray.kill(actor)
        self.actors = []

    async def status(self) -> list[dict[str, Any]]:
        """Each shard's status, or `alive: false` with the reason when it does not answer in time."""

        async def one(index: int, actor: Any) -> dict[str, Any]:
            try:
                info = await asyncio.wait_for(actor.status.remote(), timeout=STATUS_TIMEOUT_SECONDS)
                return {**info, "alive": True}
            except Exception as exc:
                return {"shard": index, "alive": False, "error": f"{type(exc).__name__}: {exc}"}

        return list(await asyncio.gather(*(one(i, a) for i, a in enumerate(self.actors))))

    async def check(self) -> CheckResult:
        """Ready when every shard actor answers."""
        shards = await self.status()
        return CheckResult(bool(shards) and all(s["alive"] for s in shards), {"shards": shards})
