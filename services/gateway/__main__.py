"""Run the gateway: `python -m services.gateway` (REST, SSE, UI; its `/readyz` covers the whole stack)."""

import uvicorn
from prometheus_client import REGISTRY

from services.common.logs import configure_logging
from services.common.secrets.sealing import SecretsKeyError
from services.common.tracing.setup import setup_tracing
from services.gateway.app import create_app
from services.gateway.readiness import SupervisorCollector, stack_checks
from services.gateway.settings import GatewaySettings


def main() -> None:
    settings = GatewaySettings()
    configure_logging("gateway", settings.log_level)
    setup_tracing("gateway")  # spans over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set, else nothing
    REGISTRY.register(SupervisorCollector(settings.state_dir))
    checks = stack_checks(settings.peers, settings.state_dir)
    try:
        app = create_app(settings, extra_ready_checks=checks)
    except SecretsKeyError as exc:
        raise SystemExit(f"gateway: {exc}") from None
    config = uvicorn.Config(
        app, host=settings.bind_host, port=settings.gateway_port, log_config=None, access_log=False, lifespan="on"
    )
    uvicorn.Server(config).run()  # uvicorn stops gracefully on SIGINT/SIGTERM


if __name__ == "__main__":
    main()
