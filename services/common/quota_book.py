"""Each tenant's effective quotas, kept current from the `cep-quotas` bucket, for the services that enforce them.

The gateway publishes a tenant's quotas there when the platform admin overrides them; a tenant without an entry
(or with an unreadable one) has the platform defaults, which every service reads from the same `CEP_QUOTA_*`
settings.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pydantic import ValidationError

from services.common.domain.quotas.tenant_quotas import TenantQuotas
from services.common.messages import codec
from services.common.nats import subjects
from services.common.nats.kv_mirror import SKIP, BucketMirror, Skip

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QuotaEntry:
    """One tenant's published quotas (the bucket keeps one value per key, so the latest put always wins)."""

    quotas: TenantQuotas
    version: int = 0


class QuotaBook(BucketMirror[QuotaEntry]):
    """Quotas by tenant: `of(tenant)` is the published entry, else the platform defaults."""

    bucket = subjects.QUOTAS_BUCKET
    what = "quota"

    def __init__(self, defaults: TenantQuotas | None = None) -> None:
        super().__init__()
        self.defaults = defaults or TenantQuotas()

    def parse(self, key: str, value: bytes) -> QuotaEntry | Skip | None:
        if not subjects.valid_tenant(key):
            return None
        try:
            body = codec.loads(value)
            return QuotaEntry(self.defaults.with_overrides(body.get("quotas", body)))
        except (ValueError, TypeError, AttributeError, ValidationError) as exc:
            log.warning("unreadable quotas of tenant %s kept at the previous value: %s", key, exc)
            return SKIP

    def of(self, tenant: str) -> TenantQuotas:
        entry = self.items.get((tenant, ""))
        return self.defaults if entry is None else entry.quotas
