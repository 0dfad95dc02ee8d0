"""The shard map (`shard-map` in the `cep-control` bucket): the shard count and placement the router routes with.

The evaluator's driver writes it; the router reads it every batch and marks each new epoch on the work stream
(services/common/nats/epoch_markers.py) before routing with it. While the series move to a new placement
(rebalance.py) it also names the old count and placement (`from`, `from_placement`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from services.common.domain.evaluation.sharding import BY_RULE, SERIES, Scheme, scheme_of
from services.common.messages import codec
from services.common.nats import subjects


@dataclass(frozen=True)
class ShardMap:
    """The `shard-map` value: the epoch, the shard count and placement scheme, and the old ones while a rebalance
    is under way (a map without a scheme is one of an earlier version: `rule`)."""

    epoch: int
    shards: int
    moving_from: int | None = None
    placement: Scheme = SERIES
    from_placement: Scheme = BY_RULE

    def encode(self) -> bytes:
        body: dict[str, Any] = {"epoch": self.epoch, "shards": self.shards, "placement": self.placement}
        if self.moving_from is not None:
            body |= {"from": self.moving_from, "from_placement": self.from_placement}
        return codec.dumps(body)

    @classmethod
    def decode(cls, data: bytes | None) -> ShardMap:
        body = codec.loads(data or b"{}")
        moving = body.get("from")
        return cls(
            int(body.get("epoch") or 0),
            int(body["shards"]),
            None if moving is None else int(moving),
            scheme_of(body.get("placement", BY_RULE)),
            scheme_of(body.get("from_placement", BY_RULE)),
        )

    def settled(self, count: int) -> bool:
        """Nothing to move for `count` shards: no move under way, that count, series placement."""
        return self.moving_from is None and self.shards == count and self.placement == SERIES


async def read_shard_map(kv: KeyValue) -> ShardMap | None:
    """The shard map, or None before the evaluator first wrote one."""
    try:
        entry = await kv.get(subjects.SHARD_MAP_KEY)
    except KeyNotFoundError:
        return None
    return ShardMap.decode(entry.value)
