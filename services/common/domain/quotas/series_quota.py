"""Active-series quotas: how many (rule, group key) series one rule and one tenant may hold in a rule engine.

A new series past either limit is refused: its event leaves no state and no transition for that rule and key,
the refusal is counted per rule and per tenant, and the series already held keep working. A series frees its
slot when the engine drops it. The engine keeps a `SeriesLedger`, so a check costs two dict reads; the shell
passes the limits in (`SeriesQuotas`) and updates them as the tenants' quotas change. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from services.common.domain.quotas.tenant_quotas import (
    DEFAULT_SERIES_PER_RULE,
    DEFAULT_SERIES_PER_TENANT,
    TenantQuotas,
    how_to_raise,
)

Quota = Literal["series_per_rule", "series_per_tenant"]
QUOTAS: tuple[Quota, ...] = ("series_per_rule", "series_per_tenant")
_KEY_SHOWN = 200  # characters of a refused group key quoted in the message (keys are tenant data, any length)


@dataclass(frozen=True)
class SeriesLimits:
    """The series one rule and one tenant may hold (in one engine: an evaluator shard)."""

    per_rule: int = DEFAULT_SERIES_PER_RULE
    per_tenant: int = DEFAULT_SERIES_PER_TENANT

    @classmethod
    def of(cls, quotas: TenantQuotas) -> SeriesLimits:
        return cls(per_rule=quotas.series_per_rule, per_tenant=quotas.series_per_tenant)


class Limits(Protocol):
    """Where an engine reads each tenant's limits from (`SeriesQuotas`, or the evaluator's quota book)."""

    def of(self, tenant: str) -> SeriesLimits: ...


class SeriesQuotas:
    """The limits of each tenant: the platform default, unless a tenant has its own (`set`)."""

    def __init__(self, default: SeriesLimits | None = None) -> None:
        self.default = default or SeriesLimits()
        self._tenants: dict[str, SeriesLimits] = {}

    def of(self, tenant: str) -> SeriesLimits:
        return self._tenants.get(tenant, self.default)

    def set(self, tenant: str, limits: SeriesLimits | None) -> None:
        """Give a tenant its own limits; None: the platform default again."""
        if limits is None:
            self._tenants.pop(tenant, None)
        else:
            self._tenants[tenant] = limits


@dataclass(frozen=True)
class Refusal:
    """Why one more series may not be held: the quota reached and its limit."""

    quota: Quota
    limit: int

    def describe(self, tenant: str) -> str:
        return f"series quota of {self.limit} {_scope(self.quota)} reached; {how_to_raise(self.quota, tenant)}"


def refusal(held_by_rule: int, held_by_tenant: int, limits: SeriesLimits) -> Refusal | None:
    """Why a rule holding `held_by_rule` series, of a tenant holding `held_by_tenant`, may not take one more."""
    if held_by_rule >= limits.per_rule:
        return Refusal("series_per_rule", limits.per_rule)
    if held_by_tenant >= limits.per_tenant:
        return Refusal("series_per_tenant", limits.per_tenant)
    return None


@dataclass
class SeriesRefusals:
    """The new series of one rule refused under one quota since they were last taken: how many, the latest key."""

    rule_id: str
    tenant: str
    quota: Quota
    limit: int
    count: int = 0
    last_key: str = ""

    def message(self) -> str:
        """What the rule's error says: the quota, what was refused and what still works, and how to raise it."""
        keys = "new group key" if self.count == 1 else "new group keys"
        shown = self.last_key if len(self.last_key) <= _KEY_SHOWN else self.last_key[:_KEY_SHOWN] + "..."
        return (
            f"series quota of {self.limit} {_scope(self.quota)} reached: {self.count} {keys} refused, "
            f"the latest {shown!r}. Their events were not evaluated by this rule; the series it holds keep working. "
            + how_to_raise(self.quota, self.tenant)
        )


@dataclass
class SeriesLedger:
    """Series held per tenant, and refusals per rule and per tenant: totals and the ones not taken yet."""

    held: dict[str, int] = field(default_factory=dict)
    refused_by_rule: dict[str, int] = field(default_factory=dict)
    refused_by_tenant: dict[str, int] = field(default_factory=dict)
    pending: dict[tuple[str, Quota], SeriesRefusals] = field(default_factory=dict)

    def hold(self, tenant: str, count: int = 1) -> None:
        self.held[tenant] = self.held.get(tenant, 0) + count

    def release(self, tenant: str, count: int = 1) -> None:
        left = self.held.get(tenant, 0) - count
        if left > 0:
            self.held[tenant] = left
        else:
            self.held.pop(tenant, None)

    def refuse(self, rule_id: str, tenant: str, key: str, why: Refusal) -> None:
        self.refused_by_rule[rule_id] = self.refused_by_rule.get(rule_id, 0) + 1
        self.refused_by_tenant[tenant] = self.refused_by_tenant.get(tenant, 0) + 1
        entry = self.pending.get((rule_id, why.quota))
        if entry is None:
            entry = self.pending[rule_id, why.quota] = SeriesRefusals(rule_id, tenant, why.quota, why.limit)
        entry.count += 1
        entry.last_key = key
        entry.limit = why.limit  # the limit in force at the latest refusal

    def forget_rule(self, rule_id: str) -> None:
        self.refused_by_rule.pop(rule_id, None)
        for quota in QUOTAS:
            self.pending.pop((rule_id, quota), None)

    def take(self) -> list[SeriesRefusals]:
        """The refusals not taken yet, one per rule and quota, by rule id; emptied."""
        taken, self.pending = self.pending, {}
        return [taken[key] for key in sorted(taken)]


def _scope(quota: Quota) -> str:
    return "per rule" if quota == "series_per_rule" else "per tenant"
