"""The gateway's view of each tenant's quotas (the defaults with the platform admin's overrides) and the refusal
of a request that would take a tenant past one.

Counted quotas (rules, polling targets, silences, inhibit rules) are checked against SQL inside the write that adds
one, with the tenant's row locked, so two concurrent creates cannot both take the last place. Hot paths (ingest,
SSE) read a copy cached for a few seconds: an override made on another gateway replica applies there within
`CACHE_SECONDS`.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db.sql_engine import Database
from services.common.domain.quotas.tenant_quotas import TenantQuotas, how_to_raise
from services.gateway.rest.problems import Problem
from services.gateway.store import quotas as store

CACHE_SECONDS = 5.0
QUOTA_EXCEEDED = "quota-exceeded"  # the problem kind of every refusal past a quota
_CACHED_TENANTS = 10_000

Counter = Callable[[AsyncSession, str], Awaitable[int]]


async def _unexpired_silences(session: AsyncSession, tenant: str) -> int:
    return await store.count_silences(session, tenant, datetime.now(UTC))


# What each counted quota counts, and what the caller can do about a refusal besides asking for more.
_COUNTED: dict[str, tuple[Counter, str, str]] = {
    "rules": (store.count_rules, "rules", "delete a rule first"),
    "polling_targets": (store.count_polling_targets, "metric-polling targets", "delete a target first"),
    "silences": (_unexpired_silences, "active or pending silences", "expire a silence first"),
    "inhibit_rules": (store.count_inhibit_rules, "inhibit rules", "delete an inhibit rule first"),
}


def effective(defaults: TenantQuotas, overrides: Mapping[str, Any]) -> TenantQuotas:
    """The defaults with the overrides on top (an override of a quota that no longer exists is ignored)."""
    return defaults.with_overrides({k: v for k, v in overrides.items() if k in TenantQuotas.model_fields})


def over_quota(tenant: str, field: str, detail: str, headers: Mapping[str, str] | None = None) -> Problem:
    """A 429 naming the quota: `detail` says what is over which number; the sentence on raising it follows."""
    return Problem(429, f"{detail}; {how_to_raise(field, tenant)}", kind=QUOTA_EXCEEDED, headers=headers)


class QuotaLimits:
    """Each tenant's effective quotas, from SQL; `require_room` refuses a create past a counted quota."""

    def __init__(self, db: Database, defaults: TenantQuotas, clock: Callable[[], float] = time.monotonic) -> None:
        self.db = db
        self.defaults = defaults
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, TenantQuotas]] = OrderedDict()

    async def of_in(self, session: AsyncSession, tenant: str) -> TenantQuotas:
        """The tenant's quotas as the session sees them."""
        row = await store.get_overrides(session, tenant)
        return effective(self.defaults, row.overrides) if row is not None else self.defaults

    async def of(self, tenant: str) -> TenantQuotas:
        """The tenant's quotas, cached for `CACHE_SECONDS`."""
        now = self._clock()
        held = self._cache.get(tenant)
        if held is not None and held[0] > now:
            return held[1]
        async with self.db.read() as session:
            quotas = await self.of_in(session, tenant)
        self._cache[tenant] = (now + CACHE_SECONDS, quotas)
        self._cache.move_to_end(tenant)
        while len(self._cache) > _CACHED_TENANTS:
            self._cache.popitem(last=False)
        return quotas

    def forget(self, tenant: str) -> None:
        """Drop the cached copy (after this replica changed the tenant's overrides)."""
        self._cache.pop(tenant, None)

    async def usage(self, session: AsyncSession, tenant: str) -> dict[str, int]:
        """How much of each counted quota the tenant uses."""
        return {field: await count(session, tenant) for field, (count, _, _) in _COUNTED.items()}

    async def require_room(self, session: AsyncSession, tenant: str, field: str) -> None:
        """Refuse (429) one more of what `field` counts when the tenant is at its quota; call it inside the
        write transaction that adds it."""
        count, noun, remedy = _COUNTED[field]
        await store.tenant_exists(session, tenant, lock=True)  # serialises this tenant's creates (PostgreSQL)
        limit = getattr(await self.of_in(session, tenant), field)
        used = await count(session, tenant)
        if used >= limit:
            detail = f"tenant {tenant!r} holds {used} {noun}, its quota `{field}` is {limit} ({remedy})"
            raise over_quota(tenant, field, detail)
