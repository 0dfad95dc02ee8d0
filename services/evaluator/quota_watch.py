"""A shard's active-series quotas: each tenant's limits from the quota book, and its refusals reported on the rule.

The engine enforces the limits (services/common/domain/quotas/series_quota.py); this shell reads them from the
`cep-quotas` bucket as they change (`QuotaBook`) and turns what the engine refused into counters and rule errors.
Each shard enforces the tenant's full limit on the series it holds itself: a tenant's rules spread over the shards
by rule id, so a tenant below its limit is never refused, whatever the spread (its total across the shards stays
under shards x limit; splitting the limit by the shard count would refuse a tenant whose rules share one shard).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Sequence

from nats.js.client import JetStreamContext

from services.common.domain.quotas.series_quota import SeriesLimits, SeriesRefusals
from services.common.domain.quotas.tenant_quotas import TenantQuotas
from services.common.quota_book import QuotaBook

log = logging.getLogger(__name__)

LOAD_SECONDS = 5.0  # how long a starting shard waits for the bucket's content before going on with the defaults
REPORT_SECONDS = 60.0  # at most one rule error per rule and quota per this period (the count says how many)


class BookLimits:
    """The series limits of each tenant as the quota book has them now (the platform defaults when absent)."""

    def __init__(self, book: QuotaBook) -> None:
        self.book = book

    def of(self, tenant: str) -> SeriesLimits:
        return SeriesLimits.of(self.book.of(tenant))


def quota_book(series_per_rule: int, series_per_tenant: int) -> QuotaBook:
    """A quota book whose defaults are the platform's series quotas (the evaluator enforces no other quota)."""
    return QuotaBook(TenantQuotas(series_per_rule=series_per_rule, series_per_tenant=series_per_tenant))


async def follow_quotas(js: JetStreamContext, book: QuotaBook) -> asyncio.Task[None]:
    """Start watching the quota bucket into `book`; returns once its content is read (or LOAD_SECONDS passed)."""
    task = asyncio.create_task(book.follow(js, asyncio.Event()), name="quota-watch")
    try:
        await asyncio.wait_for(book.loaded.wait(), LOAD_SECONDS)
    except TimeoutError:
        log.warning("the quota bucket was not read within %.0fs: the platform defaults apply until it is", LOAD_SECONDS)
    return task


async def stop_following(task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class RefusalReports:
    """Refusals gathered per rule and quota, let out at most once per `period` seconds each (the first at once).

    Memory follows the rules that had refusals in the last period, never the refused events.
    """

    def __init__(self, period: float = REPORT_SECONDS) -> None:
        self.period = period
        self._waiting: dict[tuple[str, str], SeriesRefusals] = {}
        self._last: dict[tuple[str, str], float] = {}

    def add(self, refusals: Sequence[SeriesRefusals]) -> None:
        for refused in refusals:
            key = (refused.rule_id, refused.quota)
            held = self._waiting.get(key)
            if held is None:
                self._waiting[key] = dataclasses.replace(refused)  # a copy: the engine's entry is not ours to change
            else:
                held.count += refused.count
                held.last_key = refused.last_key
                held.limit = refused.limit

    def due(self, now: float) -> list[SeriesRefusals]:
        """The gathered refusals whose rule and quota were not reported in the last period; they are let out."""
        out: list[SeriesRefusals] = []
        for key in sorted(self._waiting):
            last = self._last.get(key)
            if last is None or now - last >= self.period:
                out.append(self._waiting.pop(key))
                self._last[key] = now
        for key in [k for k, at in self._last.items() if now - at >= self.period and k not in self._waiting]:
            del self._last[key]
        return out
