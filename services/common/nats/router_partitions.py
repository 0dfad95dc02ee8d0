"""Partitioned routing: which router partition routes a raw message, and the names each partition goes by (pure).

With `CEP_ROUTER_PARTITIONS` = P above 1, the raw stream is routed by P routers at once, each by whichever ingest
replica holds its lease. Partition k routes the messages of the tenants that hash to k (events by their subject's
tenant, rule changes by the change's tenant) and acks the others unread. Everything the evaluator relies on holds
per tenant: a tenant's events and rule changes are routed by one router in raw order, and a shard remembers the
last raw position applied per tenant (services/evaluator/work.py, `RawDone`), so the work of several routers may
interleave on a shard's subject. P = 1 is the single router of earlier versions, under its names.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from services.common.messages import codec
from services.common.nats import subjects

MAX_PARTITIONS = 64


def partition_of(tenant: str, count: int) -> int:
    """The partition routing `tenant` among `count` (a stable hash: the same in every replica and release)."""
    return zlib.crc32(tenant.encode()) % count if count > 1 else 0


def tenant_of_message(subject: str, data: bytes) -> str | None:
    """The tenant a raw message belongs to: its subject's, or a rule change's `tenant`; None when unreadable."""
    if subject == subjects.CONTROL_RULES:
        try:
            tenant = codec.loads(data).get("tenant")
        except (ValueError, AttributeError):
            return None
        return tenant if isinstance(tenant, str) else None
    return subjects.tenant_of(subject)


@dataclass(frozen=True)
class Partition:
    """Router partition `index` of `count`: its durable consumer, its lease key and its epoch-marker subject."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_PARTITIONS or not 0 <= self.index < self.count:
            raise ValueError(f"router partition {self.index} of {self.count} does not exist")

    @property
    def single(self) -> bool:
        return self.count == 1

    @property
    def durable(self) -> str:
        """The partition's durable consumer on CEP_EVENTS (`router` when there is one partition)."""
        return subjects.ROUTER_CONSUMER if self.single else f"{subjects.ROUTER_CONSUMER}-{self.index}of{self.count}"

    @property
    def lease_key(self) -> str:
        """Its key in the router lease bucket (`router` when there is one partition)."""
        return subjects.ROUTER_LEASE_KEY if self.single else f"{subjects.ROUTER_LEASE_KEY}-{self.index}of{self.count}"

    @property
    def marker_subject(self) -> str:
        """Where it marks each new shard-map epoch on the work stream (`cep.work.epoch` when there is one)."""
        return subjects.WORK_EPOCH if self.single else f"{subjects.WORK_EPOCH}-{self.index}"

    def routes(self, tenant: str | None) -> bool:
        """Whether this partition routes the messages of `tenant` (an unreadable one: partition 0, which drops it)."""
        return self.index == (0 if tenant is None else partition_of(tenant, self.count))

    def __str__(self) -> str:
        return f"router partition {self.index} of {self.count}"


def every_partition(count: int) -> list[Partition]:
    return [Partition(index, count) for index in range(count)]


def is_router_consumer(name: str) -> bool:
    """Whether a consumer of CEP_EVENTS is a router's, of any partition count."""
    prefix = subjects.ROUTER_CONSUMER
    if name == prefix:
        return True
    index, of, count = name.removeprefix(prefix + "-").partition("of")
    return name.startswith(prefix + "-") and bool(of) and index.isdigit() and count.isdigit()


def count_of_consumer(name: str) -> int:
    """The partition count a router consumer's name says (1 for `router`)."""
    return 1 if name == subjects.ROUTER_CONSUMER else int(name.rpartition("of")[2])
