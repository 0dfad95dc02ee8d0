"""The scheduler service shell: NATS connection and the gRPC surface the gateway calls."""

from __future__ import annotations

from services.common.service import NatsService
from services.scheduler.settings import SchedulerSettings


class SchedulerService(NatsService):
    """The scheduler, started as its own process by `cep up` (its own Deployment on Kubernetes)."""

    name = "scheduler"

    def __init__(self, settings: SchedulerSettings) -> None:
        super().__init__(settings, grpc_port=settings.scheduler_grpc_port)
