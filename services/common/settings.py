"""Settings every service shares; each service extends this with its own class, built once in `__main__`."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.domain.notify.egress_policy import EgressPolicy, parse_allow
from services.common.domain.quotas import tenant_quotas


class ServiceSettings(BaseSettings):
    """Environment variables with the `CEP_` prefix: the same names in a process, compose and Kubernetes."""

    model_config = SettingsConfigDict(env_prefix="CEP_", extra="ignore")

    state_dir: Path = Path(".cep")
    nats_url: str = "nats://127.0.0.1:4222"
    bind_host: str = "127.0.0.1"
    log_level: str = "INFO"
    # Internal destinations outbound connections may reach anyway: comma-separated hosts, addresses and CIDRs.
    egress_allow: str = ""
    # The platform's default per-tenant quotas (services/common/domain/quotas/tenant_quotas.py): `CEP_QUOTA_<NAME>`,
    # read by every service that enforces one; the platform admin overrides them per tenant
    # (PUT /cep/admin/quotas/{tenant}).
    quota_rules: int = Field(default=tenant_quotas.DEFAULT_RULES, ge=1)
    quota_series_per_rule: int = Field(default=tenant_quotas.DEFAULT_SERIES_PER_RULE, ge=1)
    quota_series_per_tenant: int = Field(default=tenant_quotas.DEFAULT_SERIES_PER_TENANT, ge=1)
    quota_polling_targets: int = Field(default=tenant_quotas.DEFAULT_POLLING_TARGETS, ge=1)
    quota_sse_streams: int = Field(default=tenant_quotas.DEFAULT_SSE_STREAMS, ge=1)
    quota_ingest_rate: float = Field(default=tenant_quotas.DEFAULT_INGEST_RATE, ge=0)
    quota_ingest_burst: int = Field(default=tenant_quotas.DEFAULT_INGEST_BURST, ge=1)
    quota_silences: int = Field(default=tenant_quotas.DEFAULT_SILENCES, ge=1)
    quota_inhibit_rules: int = Field(default=tenant_quotas.DEFAULT_INHIBIT_RULES, ge=1)
    # Older names of the two ingest defaults (once the gateway's HTTP ingest limit): used where the CEP_QUOTA_ one
    # is not set, so a deployment that set them keeps its limit, now on HTTP and NATS alike.
    ingest_rate: float | None = Field(default=None, ge=0)
    ingest_burst: int | None = Field(default=None, ge=1)

    @field_validator("egress_allow")
    @classmethod
    def _egress_allow_parses(cls, value: str) -> str:
        parse_allow(value)  # a bad entry stops the service at start, named, not at its first delivery
        return value

    @model_validator(mode="after")
    def _ingest_aliases(self) -> Self:
        if self.ingest_rate is not None and "quota_ingest_rate" not in self.model_fields_set:
            self.quota_ingest_rate = self.ingest_rate
        if self.ingest_burst is not None and "quota_ingest_burst" not in self.model_fields_set:
            self.quota_ingest_burst = self.ingest_burst
        return self

    @property
    def quota_defaults(self) -> tenant_quotas.TenantQuotas:
        """The quotas of a tenant the platform admin has not overridden (`CEP_QUOTA_*`)."""
        fields = tenant_quotas.TenantQuotas.model_fields
        return tenant_quotas.TenantQuotas(**{name: getattr(self, f"quota_{name}") for name in fields})

    @property
    def egress_policy(self) -> EgressPolicy:
        """The egress policy `CEP_EGRESS_ALLOW` describes (nothing internal allowed by default)."""
        return parse_allow(self.egress_allow)
