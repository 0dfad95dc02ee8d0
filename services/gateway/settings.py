"""Settings of the gateway (environment variables with the CEP_ prefix), built once and passed down."""

from __future__ import annotations

from services.common.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    """`CEP_DATABASE_URL` (default: SQLite in the state dir), `CEP_ADMIN_TOKEN`, `CEP_MAX_BODY_BYTES`, ports."""

    database_url: str | None = None
    admin_token: str | None = None
    max_body_bytes: int = 1_048_576
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
