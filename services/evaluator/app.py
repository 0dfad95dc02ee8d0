"""The evaluator service shell: Ray shards, NATS, and the gRPC `Evaluator` surface."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping

import grpc

from services.common.ops import Check
from services.common.pb.cep.v1 import evaluator_pb2, evaluator_pb2_grpc
from services.common.service import NatsService, Registrar
from services.evaluator.driver import ShardDriver
from services.evaluator.ray_runtime import stop_ray
from services.evaluator.settings import EvaluatorSettings


class EvaluatorService(NatsService):
    """Runs the shard driver; Ray itself is started by `__main__` before the event loop."""

    name = "evaluator"

    def __init__(self, settings: EvaluatorSettings) -> None:
        super().__init__(settings, grpc_port=settings.evaluator_grpc_port)
        self.driver = ShardDriver(settings.shards)

    async def start(self) -> None:
        await super().start()
        self.driver.start()

    async def stop(self) -> None:
        await super().stop()
        await asyncio.to_thread(self.driver.stop)
        await asyncio.to_thread(stop_ray)

    def checks(self) -> Mapping[str, Check]:
        return {**super().checks(), "shards": self.driver.check}

    def registrars(self) -> list[Registrar]:
        servicer = EvaluatorServicer(self.driver)
        return [lambda server: evaluator_pb2_grpc.add_EvaluatorServicer_to_server(servicer, server)]


class EvaluatorServicer(evaluator_pb2_grpc.EvaluatorServicer):
    """gRPC handlers: thin calls into the driver."""

    def __init__(self, driver: ShardDriver) -> None:
        self.driver = driver

    async def ShardStatus(
        self, request: evaluator_pb2.ShardStatusRequest, context: grpc.aio.ServicerContext
    ) -> evaluator_pb2.ShardStatusReply:
        shards = await self.driver.status()
        return evaluator_pb2.ShardStatusReply(
            shards=[
                evaluator_pb2.ShardInfo(
                    shard=s["shard"], alive=s["alive"], rules=s.get("rules", 0), detail_json=json.dumps(s)
                )
                for s in shards
            ]
        )
