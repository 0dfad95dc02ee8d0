"""Settings of the ingest service (environment variables with the CEP_ prefix)."""

from __future__ import annotations

from services.common.settings import ServiceSettings


class IngestSettings(ServiceSettings):
    """`CEP_INGEST_PORT`: the ops HTTP port (health, readiness, metrics)."""

    ingest_port: int = 8081
