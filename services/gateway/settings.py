"""Settings of the gateway (environment variables with the CEP_ prefix), built once and passed down."""

from __future__ import annotations

import nkeys
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from services.common.domain.ack_sla import DEFAULT_ACK_SLA, AckSla, parse_ack_sla
from services.common.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    """`CEP_DATABASE_URL` (default: SQLite in the state dir), `CEP_ADMIN_TOKEN`, `CEP_MAX_BODY_BYTES`, ports."""

    # Errors name the variable but never echo its value: several of these are secrets.
    model_config = SettingsConfigDict(hide_input_in_errors=True)

    database_url: str | None = None
    admin_token: str | None = None
    max_body_bytes: int = 1_048_576
    # Per-tenant ingest rate limit of this gateway replica, events per second (0: off), and the burst a tenant
    # may send at once; past it POST /cep/ingest answers 429 with Retry-After (services/common/domain/rate_limit.py).
    ingest_rate: float = Field(default=10_000.0, ge=0)
    ingest_burst: int = Field(default=50_000, gt=0)
    sse_keepalive_seconds: float = 10.0  # SSE keep-alive comment interval (the contract: at least every 15 s)
    gateway_port: int = 8080
    # The peers whose readiness makes the stack ready (`/readyz`); `cep up` sets them, so do compose and k8s.
    ingest_url: str = "http://127.0.0.1:8081"
    evaluator_url: str = "http://127.0.0.1:8082"
    notifier_url: str = "http://127.0.0.1:8083"
    scheduler_url: str = "http://127.0.0.1:8084"
    evaluator_grpc: str = "127.0.0.1:50051"
    notifier_grpc: str = "127.0.0.1:50052"
    scheduler_grpc: str = "127.0.0.1:50053"
    # The account nkey seed (`SA...`) that signs the users NATS producers get from the auth callout; set by
    # `cep up` (see services/gateway/nats_auth.py). Unset: no callout responder (a NATS without auth callout).
    nats_auth_issuer_seed: SecretStr | None = None
    # ACK SLA per priority (`P1=15m,P2=1h`; empty or `off`: none): an open event past it emits
    # `cep.ack.sla_breached` (services/gateway/ack_sla.py). The platform default; tenants may get their own later.
    ack_sla: str = DEFAULT_ACK_SLA
    ack_sla_sweep_seconds: float = Field(default=5.0, gt=0, le=3600)  # how often the check looks for breaches

    @field_validator("nats_auth_issuer_seed")
    @classmethod
    def _account_seed(cls, value: SecretStr | None) -> SecretStr | None:
        """A bad seed stops the gateway at start with the variable's name, never echoing the secret."""
        if value is None or not value.get_secret_value():
            return None
        seed = value.get_secret_value().strip()
        try:
            prefix, _ = nkeys.decode_seed(seed.encode())
        except (nkeys.NkeysError, ValueError):
            prefix = None
        if prefix != nkeys.PREFIX_BYTE_ACCOUNT:
            raise ValueError("CEP_NATS_AUTH_ISSUER_SEED must be an account nkey seed (it starts with 'SA')")
        return SecretStr(seed)

    @field_validator("ack_sla")
    @classmethod
    def _ack_sla_parses(cls, value: str) -> str:
        parse_ack_sla(value)  # a bad value stops the gateway at start, naming CEP_ACK_SLA and the entry
        return value

    @property
    def ack_sla_policy(self) -> AckSla:
        """The platform's ACK SLA (`CEP_ACK_SLA`)."""
        return parse_ack_sla(self.ack_sla)

    @property
    def peers(self) -> dict[str, str]:
        """The ops URLs of the other services, by name."""
        return {
            "ingest": self.ingest_url,
            "evaluator": self.evaluator_url,
            "notifier": self.notifier_url,
            "scheduler": self.scheduler_url,
        }

    @property
    def resolved_database_url(self) -> str:
        """The database URL to use: `CEP_DATABASE_URL`, else `sqlite:///<state_dir>/cep.db`."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.state_dir / 'cep.db'}"
