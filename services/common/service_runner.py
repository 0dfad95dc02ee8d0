"""The process shell every service runs in: JSON logs, signal handling, the ops HTTP server, clean stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Generator, Mapping
from typing import Protocol

import uvicorn
from starlette.applications import Starlette

from services.common.logs import configure_logging
from services.common.ops import Check, add_ops_routes
from services.common.tracing.setup import setup_tracing

log = logging.getLogger(__name__)


class Service(Protocol):
    """What a service shell runs: start its work, say whether it is ready, and stop cleanly."""

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def checks(self) -> Mapping[str, Check]: ...


class QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the service shell (it stops via `should_exit`)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def serve(service: Service, host: str, port: int, app: Starlette | None = None) -> None:
    """Run a service until SIGTERM or SIGINT: ops routes served from the start, readiness from its checks."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    app = app or Starlette()
    add_ops_routes(app, service=service.name, checks=service.checks())
    config = uvicorn.Config(app, host=host, port=port, log_config=None, lifespan="on", access_log=False)
    server = QuietServer(config)
    http = asyncio.create_task(server.serve(), name="ops-http")
    try:
        await service.start()
        log.info("%s started", service.name, extra={"pid": os.getpid()})
        done, _ = await asyncio.wait({http, asyncio.create_task(stop.wait())}, return_when=asyncio.FIRST_COMPLETED)
        if http in done:
            http.result()  # the HTTP server died (port taken?): surface it as the process's failure
    finally:
        log.info("%s stopping", service.name)
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(service.stop(), timeout=8)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(http, timeout=3)


def run(service: Service, host: str, port: int, log_level: str = "INFO", app: Starlette | None = None) -> None:
    """Entry point for a service's `__main__`: configure logs and run the service's event loop."""
    configure_logging(service.name, log_level)
    setup_tracing(service.name)  # spans over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set, else nothing
    asyncio.run(serve(service, host, port, app))
