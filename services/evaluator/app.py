"""The evaluator service shell: Ray shards, NATS, the gRPC `Evaluator` surface and the shards' metrics."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any

import grpc
from prometheus_client import REGISTRY, CollectorRegistry

from services.common.nats.streams import ensure_streams
from services.common.ops import Check, CheckResult
from services.common.pb.cep.v1 import evaluator_pb2, evaluator_pb2_grpc
from services.common.service import NatsService, Registrar
from services.evaluator.driver import ShardDriver
from services.evaluator.settings import EvaluatorSettings
from services.evaluator.snapshots import part_size


class EvaluatorService(NatsService):
    """Runs the shard driver; Ray itself is started by `__main__` before the event loop."""

    name = "evaluator"

    def __init__(self, settings: EvaluatorSettings, registry: CollectorRegistry = REGISTRY) -> None:
        super().__init__(settings, grpc_port=settings.evaluator_grpc_port)
        self.driver = ShardDriver(
            settings.shard_options(),
            settings.nats_url,
            tick_interval=settings.tick_interval,
            shard_cpus=settings.shard_cpus,
        )
        self.registry = registry
        self.started = False

    async def start(self) -> None:
        await super().start()
        assert self.nc is not None
        js = self.nc.jetstream()
        await ensure_streams(js)
        self.registry.register(self.driver.collector)
        await self.driver.start(js, part_size(self.nc.max_payload))
        self.started = True

    async def stop(self) -> None:
        if self.started:
            await self.driver.stop()
            with contextlib.suppress(KeyError):
                self.registry.unregister(self.driver.collector)
        await super().stop()

    def checks(self) -> Mapping[str, Check]:
        return {**super().checks(), "shards": self._shards_check}

    async def _shards_check(self) -> CheckResult:
        if not self.started:
            return CheckResult(False, "not started")
        return await self.driver.check()

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
        return shard_status_reply(await self.driver.status())

    async def AnomalyStatus(
        self, request: evaluator_pb2.AnomalyStatusRequest, context: grpc.aio.ServicerContext
    ) -> evaluator_pb2.AnomalyStatusReply:
        try:
            status = await self.driver.anomaly_status(request.tenant, request.rule_id)
        except KeyError:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no shard holds rule {request.rule_id!r}")
        except ValueError as exc:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        except Exception as exc:  # a timeout, or a shard actor restarting
            detail = f"the shard of rule {request.rule_id!r} did not answer: {type(exc).__name__}: {exc}"
            await context.abort(grpc.StatusCode.UNAVAILABLE, detail)
        return evaluator_pb2.AnomalyStatusReply(status_json=json.dumps(status, default=str))


def shard_status_reply(shards: list[dict[str, Any]]) -> evaluator_pb2.ShardStatusReply:
    """The gRPC form of the driver's shard statuses."""
    return evaluator_pb2.ShardStatusReply(shards=[_shard_info(s) for s in shards])


def _shard_info(status: dict[str, Any]) -> evaluator_pb2.ShardInfo:
    pending = status.get("pending")
    return evaluator_pb2.ShardInfo(
        shard=int(status["shard"]),
        alive=bool(status["alive"]),
        rules=int(status.get("rules") or 0),
        series=int(status.get("series") or 0),
        detail_json=json.dumps(status, default=str),
        consuming=bool(status.get("consuming")),
        last_seq=int(status.get("last_seq") or 0),
        snapshot_seq=int(status.get("snapshot_seq") or 0),
        pending=-1 if pending is None else int(pending),
        poison=int(status.get("poison") or 0),
        error=str(status.get("error") or ""),
    )
