"""Settings every service shares; each service extends this with its own class, built once in `__main__`."""

from __future__ import annotations

from pathlib import Path

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.domain.egress import EgressPolicy, parse_allow


class ServiceSettings(BaseSettings):
    """Environment variables with the `CEP_` prefix: the same names in a process, compose and Kubernetes."""

    model_config = SettingsConfigDict(env_prefix="CEP_", extra="ignore")

    state_dir: Path = Path(".cep")
    nats_url: str = "nats://127.0.0.1:4222"
    bind_host: str = "127.0.0.1"
    log_level: str = "INFO"
    # Internal destinations outbound connections may reach anyway: comma-separated hosts, addresses and CIDRs.
    egress_allow: str = ""

    @field_validator("egress_allow")
    @classmethod
    def _egress_allow_parses(cls, value: str) -> str:
        parse_allow(value)  # a bad entry stops the service at start, named, not at its first delivery
        return value

    @property
    def egress_policy(self) -> EgressPolicy:
        """The egress policy `CEP_EGRESS_ALLOW` describes (nothing internal allowed by default)."""
        return parse_allow(self.egress_allow)
