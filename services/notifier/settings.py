"""Settings of the notifier service (environment variables with the CEP_ prefix)."""

from __future__ import annotations

from services.common.settings import ServiceSettings


class NotifierSettings(ServiceSettings):
    """`CEP_NOTIFIER_PORT` (ops HTTP) and `CEP_NOTIFIER_GRPC_PORT` (the gRPC surface)."""

    notifier_port: int = 8083
    notifier_grpc_port: int = 50052
