"""Settings of the scheduler service (environment variables with the CEP_ prefix)."""

from __future__ import annotations

from services.common.settings import ServiceSettings


class SchedulerSettings(ServiceSettings):
    """`CEP_SCHEDULER_PORT` (ops HTTP) and `CEP_SCHEDULER_GRPC_PORT` (the gRPC surface)."""

    scheduler_port: int = 8084
    scheduler_grpc_port: int = 50053
