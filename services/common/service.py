"""A base for service shells that hold one NATS connection and optionally serve gRPC."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

import grpc
from nats.aio.client import Client

from services.common.nats import bus
from services.common.ops import Check, run_checks
from services.common.pb.cep.v1 import ops_pb2, ops_pb2_grpc
from services.common.settings import ServiceSettings

log = logging.getLogger(__name__)

# A function that registers servicers on a gRPC server (the generated `add_XServicer_to_server` bound to one).
Registrar = Callable[[grpc.aio.Server], None]


class NatsService:
    """Connects to NATS on start, drains on stop, and reports the connection as a readiness check."""

    name = "service"

    def __init__(self, settings: ServiceSettings, grpc_port: int | None = None) -> None:
        self.settings = settings
        self.grpc_port = grpc_port
        self.nc: Client | None = None
        self.grpc_server: grpc.aio.Server | None = None

    async def start(self) -> None:
        self.nc = await bus.connect(self.settings.nats_url, f"cep-{self.name}-{os.getpid()}")
        if self.grpc_port is not None:
            await self.start_grpc(self.grpc_port, self.registrars())

    def registrars(self) -> list[Registrar]:
        """The service-specific gRPC servicers; the shared Ops servicer (Status) is always added."""
        return []

    async def stop(self) -> None:
        if self.grpc_server is not None:
            await self.grpc_server.stop(grace=2)
        if self.nc is not None and not self.nc.is_closed:
            await self.nc.drain()

    def checks(self) -> Mapping[str, Check]:
        return {"nats": lambda: bus.check_connected(self.nc)}

    async def start_grpc(self, port: int, registrars: list[Registrar]) -> None:
        """Serve gRPC on the bind host; the port is the service's `*_GRPC_PORT` setting."""
        server = grpc.aio.server()
        ops_pb2_grpc.add_OpsServicer_to_server(OpsServicer(self), server)
        for register in registrars:
            register(server)
        server.add_insecure_port(f"{self.settings.bind_host}:{port}")
        await server.start()
        self.grpc_server = server

    async def status_reply(self) -> ops_pb2.StatusReply:
        """The gRPC Status answer, computed from the same checks as `/readyz`."""
        results = await run_checks(self.checks())
        detail: dict[str, Any] = {name: {"ok": r.ok, "detail": r.detail} for name, r in results.items()}
        return ops_pb2.StatusReply(
            service=self.name,
            ready=all(r.ok for r in results.values()),
            detail_json=json.dumps(detail, default=str),
            instance=f"{os.uname().nodename}:{os.getpid()}",
        )


class OpsServicer(ops_pb2_grpc.OpsServicer):
    """gRPC `Ops.Status`: the same readiness `/readyz` reports."""

    def __init__(self, service: NatsService) -> None:
        self.service = service

    async def Status(self, request: ops_pb2.StatusRequest, context: grpc.aio.ServicerContext) -> ops_pb2.StatusReply:
        return await self.service.status_reply()
