"""Quota distribution: each tenant's effective quotas, mirrored from SQL into the `cep-quotas` KV bucket.

The key is the tenant, the value its `TenantQuotas` JSON (the defaults of this gateway with the tenant's overrides
on top); a tenant without overrides has no key and every service applies the platform defaults (`CEP_QUOTA_*`).
The admin route publishes after its commit; the shared publisher (kv_publisher.py) reconciles the bucket from SQL,
which also republishes every tenant after a change of the defaults. Keys of tenants this database does not know
are left alone (the bucket is shared; tenants are never deleted).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db.sql_engine import Database
from services.common.db.tables import TenantQuotaRow
from services.common.domain.quotas.tenant_quotas import TenantQuotas
from services.common.messages import codec
from services.common.nats import subjects
from services.gateway.nats.bus import GatewayBus
from services.gateway.publishers.kv_publisher import RECONCILE_SECONDS, KvPublisher, Mirrored, stored_value
from services.gateway.quota_limits import effective
from services.gateway.store import quotas as store


class Quotas(Mirrored[TenantQuotaRow]):
    """Tenants' quotas: the entry is the whole effective quotas (no version), compared as a value."""

    bucket = subjects.QUOTAS_BUCKET
    what = "quota"

    def __init__(self, defaults: TenantQuotas) -> None:
        self.defaults = defaults

    async def rows(self, session: AsyncSession) -> Sequence[TenantQuotaRow]:
        return await store.all_overrides(session)

    def key(self, row: TenantQuotaRow) -> str:
        return row.tenant

    def live(self, row: TenantQuotaRow) -> bool:
        return bool(row.overrides)  # every override removed: the defaults apply, no key

    def entry(self, row: TenantQuotaRow) -> bytes:
        return codec.dumps(effective(self.defaults, row.overrides).model_dump())

    async def stale(self, kv: KeyValue, row: TenantQuotaRow, first_pass: bool) -> bool:
        stored = await stored_value(kv, row.tenant)
        try:
            mirrored = codec.loads(stored) if stored is not None else None
        except ValueError:
            mirrored = None
        wanted = effective(self.defaults, row.overrides).model_dump() if self.live(row) else None
        return bool(mirrored != wanted)


class QuotaPublisher(KvPublisher[TenantQuotaRow]):
    """The quotas' publisher."""

    def __init__(
        self, bus: GatewayBus, db: Database, defaults: TenantQuotas, interval: float = RECONCILE_SECONDS
    ) -> None:
        super().__init__(bus, db, Quotas(defaults), interval)

    async def publish_tenant(self, tenant: str) -> None:
        """Mirror the tenant's quotas as SQL holds them now (read again, so two racing writers end up right)."""
        async with self.db.read() as session:
            row = await store.get_overrides(session, tenant)
        if row is not None:
            await self.publish(row)
            return
        kv = await self.bucket()  # no row: the defaults apply, no key
        with contextlib.suppress(KeyNotFoundError):
            await kv.delete(tenant)
