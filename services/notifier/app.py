"""The notifier service shell: NATS connection and the gRPC surface the gateway calls."""

from __future__ import annotations

from services.common.service import NatsService
from services.notifier.settings import NotifierSettings


class NotifierService(NatsService):
    """The notifier, started as its own process by `cep up` (its own Deployment on Kubernetes)."""

    name = "notifier"

    def __init__(self, settings: NotifierSettings) -> None:
        super().__init__(settings, grpc_port=settings.notifier_grpc_port)
