"""Per-tenant quotas: what one tenant may hold or send, so no tenant can exhaust what all tenants share.

The platform's defaults come from settings (`CEP_QUOTA_<NAME>`, see `QuotaDefaults`); the platform admin may
override any of them per tenant (`PUT /cep/admin/quotas/{tenant}`). The effective quotas of a tenant are the
defaults with its overrides on top, published to the `cep-quotas` KV bucket (key = tenant) for the services
that enforce them. A value of 0 means "no limit" for a rate and is refused for a count. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# The defaults admit real load (issue 14): 200k events/s, 10,000 rules and 1M active series per tenant.
DEFAULT_RULES = 10_000
DEFAULT_SERIES_PER_RULE = 100_000
DEFAULT_SERIES_PER_TENANT = 1_000_000
DEFAULT_POLLING_TARGETS = 200
DEFAULT_SSE_STREAMS = 100
DEFAULT_INGEST_RATE = 200_000.0  # events per second, HTTP and NATS each
DEFAULT_INGEST_BURST = 400_000  # events a tenant may send at once above the rate
# Every notification's muting check reads all of its tenant's silences and inhibit rules (issue 17).
DEFAULT_SILENCES = 10_000  # active or pending; expired ones do not count
DEFAULT_INHIBIT_RULES = 1_000


class TenantQuotas(BaseModel):
    """The effective limits of one tenant. Every field names its setting: `CEP_QUOTA_<FIELD>` (upper case)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rules: int = Field(default=DEFAULT_RULES, ge=1, description="rules a tenant may hold (active or not)")
    series_per_rule: int = Field(
        default=DEFAULT_SERIES_PER_RULE, ge=1, description="active series (group keys) of one rule"
    )
    series_per_tenant: int = Field(
        default=DEFAULT_SERIES_PER_TENANT, ge=1, description="active series of all the tenant's rules"
    )
    polling_targets: int = Field(default=DEFAULT_POLLING_TARGETS, ge=1, description="metric-polling targets")
    sse_streams: int = Field(default=DEFAULT_SSE_STREAMS, ge=1, description="open SSE streams at once")
    ingest_rate: float = Field(
        default=DEFAULT_INGEST_RATE, ge=0, description="events per second over HTTP and over NATS (0: no limit)"
    )
    ingest_burst: int = Field(default=DEFAULT_INGEST_BURST, ge=1, description="events at once above the rate")
    silences: int = Field(default=DEFAULT_SILENCES, ge=1, description="silences active or pending (not expired)")
    inhibit_rules: int = Field(default=DEFAULT_INHIBIT_RULES, ge=1, description="inhibit rules a tenant may hold")

    def with_overrides(self, overrides: Mapping[str, Any]) -> TenantQuotas:
        """These quotas with `overrides` on top (validated: a bad value raises pydantic's ValidationError)."""
        return TenantQuotas.model_validate({**self.model_dump(), **overrides})


def setting_name(field: str) -> str:
    """The variable that sets a quota's platform default (`series_per_rule` -> CEP_QUOTA_SERIES_PER_RULE)."""
    return f"CEP_QUOTA_{field.upper()}"


def how_to_raise(field: str, tenant: str) -> str:
    """The sentence an over-quota error ends with: who can raise the limit, and how."""
    return (
        f"the platform admin can raise it for this tenant (PUT /cep/admin/quotas/{tenant} "
        f'{{"{field}": N}}) or for all tenants ({setting_name(field)})'
    )
