"""Quota distribution: each tenant's effective quotas, mirrored from SQL into the `cep-quotas` KV bucket.

The key is the tenant, the value its `TenantQuotas` JSON (the defaults of this gateway with the tenant's overrides
on top); a tenant without overrides has no key and every service applies the platform defaults (`CEP_QUOTA_*`).
The admin route publishes after its commit; `keep_reconciled` repairs the bucket from SQL at start and every
interval, which also republishes every tenant after a change of the defaults. Keys of tenants this database does
not know are left alone (the bucket is shared; tenants are never deleted).
"""

from __future__ import annotations

import contextlib
import logging

from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from services.common.db.sql_engine import Database
from services.common.domain.quotas.tenant_quotas import TenantQuotas
from services.common.messages import codec
from services.common.nats import subjects
from services.gateway.nats.bus import GatewayBus
from services.gateway.publishers.kv_publisher import RECONCILE_SECONDS, KvPublisher
from services.gateway.quota_limits import effective
from services.gateway.store import quotas as store

log = logging.getLogger(__name__)


class QuotaPublisher(KvPublisher):
    """Mirrors tenants' effective quotas into the bucket; a gateway component (it reconciles while started)."""

    bucket = subjects.QUOTAS_BUCKET
    what = "quota"

    def __init__(
        self, bus: GatewayBus, db: Database, defaults: TenantQuotas, interval: float = RECONCILE_SECONDS
    ) -> None:
        super().__init__(bus, db, interval)
        self.defaults = defaults

    async def publish(self, tenant: str) -> None:
        """Mirror the tenant's quotas as SQL holds them now (read again, so two racing writers end up right)."""
        async with self.db.read() as session:
            row = await store.get_overrides(session, tenant)
        kv = await self._bucket()
        if row is None or not row.overrides:
            with contextlib.suppress(KeyNotFoundError):
                await kv.delete(tenant)
            return
        await kv.put(tenant, codec.dumps(effective(self.defaults, row.overrides).model_dump()))

    async def reconcile(self) -> int:
        """Bring the bucket in line with SQL and the current defaults; return how many keys needed a fix."""
        await self.bus.wait_ready()
        kv = await self.bus.js.key_value(self.bucket)
        async with self.db.read() as session:
            rows = await store.all_overrides(session)
        fixed = 0
        for row in rows:
            wanted = effective(self.defaults, row.overrides).model_dump() if row.overrides else None
            stored = await _stored(kv, row.tenant)
            if stored == wanted:
                continue
            if wanted is None:  # every override removed, and that deletion was lost
                with contextlib.suppress(KeyNotFoundError):
                    await kv.delete(row.tenant)
            else:
                await kv.put(row.tenant, codec.dumps(wanted))
            fixed += 1
        if fixed:
            log.info("reconciled %d tenant quota entr(ies) from SQL into the quotas bucket", fixed)
        return fixed


async def _stored(kv: KeyValue, tenant: str) -> object:
    try:
        entry = await kv.get(tenant)
    except KeyNotFoundError:
        return None
    try:
        return codec.loads(entry.value or b"null")
    except ValueError:
        return None
