"""Anomaly status from the shard that holds the rule: gRPC `Evaluator/AnomalyStatus` and the gateway route over it."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import grpc
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from services.common.cli.procs import free_port
from services.common.messages import codec
from services.common.messages.work import work_event
from services.common.nats import subjects
from services.common.pb.cep.v1 import evaluator_pb2, evaluator_pb2_grpc
from services.evaluator.app import EvaluatorService
from services.evaluator.settings import EvaluatorSettings
from services.gateway.app import create_app
from tests.evaluator.kit import at, connect, event, eventually, publish_in_order
from tests.gateway.conftest import create_rule, mint, settings_for
from tests.support.nats import NatsServer

LAB4 = {
    "name": "cpu_anomaly",
    "trigger_type": "anomaly",
    "trigger_spec": {"value_path": "cpu_percent", "anomaly_method": "zscore", "threshold": 3.0, "min_baseline": 10},
}
LAB2 = {"name": "errors", "trigger_type": "event", "trigger_spec": {"event_type": "error"}}


async def test_learning_status_over_grpc_and_through_the_gateway(
    broker: NatsServer, ray_session: None, tmp_path: Path
) -> None:
    port = free_port()
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    (tmp_path / "gw").mkdir()
    settings = settings_for(tmp_path / "gw", nats_url=broker.url, evaluator_grpc=f"127.0.0.1:{port}")
    with TestClient(create_app(settings)) as gateway:
        editor = mint(gateway, tenant, "editor")
        rule = create_rule(gateway, editor, **LAB4)  # inactive; in the rule bucket before the shard starts
        errors = create_rule(gateway, editor, **LAB2)
        service = EvaluatorService(
            EvaluatorSettings(nats_url=broker.url, state_dir=tmp_path, shards=1, evaluator_grpc_port=port),
            CollectorRegistry(),  # not the default registry: other tests' services register the same names
        )
        nc, js = await connect(broker.url)
        await service.start()
        try:
            await eventually(lambda: _ready(service), "the shard consuming", timeout=60)
            work = [work_event(event(n, {"cpu_percent": 40 + n % 3}, at(n), tenant=tenant)) for n in range(6)]
            await publish_in_order(js, subjects.work_subject(0), work)
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = evaluator_pb2_grpc.EvaluatorStub(channel)

                async def learned() -> bool:
                    reply = await stub.AnomalyStatus(
                        evaluator_pb2.AnomalyStatusRequest(tenant=tenant, rule_id=rule["rule_id"])
                    )
                    return codec.loads(reply.status_json)["reason"].startswith("learning: 6 of 10 samples")

                await eventually(learned, "six samples learned by the inactive rule")
                for request, code in [
                    ((f"{tenant}-x", rule["rule_id"]), grpc.StatusCode.NOT_FOUND),  # another tenant
                    ((tenant, "nope"), grpc.StatusCode.NOT_FOUND),
                    ((tenant, errors["rule_id"]), grpc.StatusCode.FAILED_PRECONDITION),
                ]:
                    with pytest.raises(grpc.aio.AioRpcError) as refused:
                        await stub.AnomalyStatus(
                            evaluator_pb2.AnomalyStatusRequest(tenant=request[0], rule_id=request[1])
                        )
                    assert refused.value.code() == code

            response = await asyncio.to_thread(
                gateway.get, f"/cep/rules/{rule['rule_id']}/anomaly-status", headers=editor
            )
            assert response.status_code == 200, response.text
            status = response.json()
            assert (status["active"], status["ready"], status["detection"], status["method"]) == (
                False,
                False,
                "disabled",
                "zscore",
            )
            assert "tenant" not in status
            key = status["keys"][""]
            assert key["baseline"] | {"ready": False, "samples": 6, "required": 10} == key["baseline"]
            assert key["last"]["value"] == 40 + 5 % 3 and key["last"]["is_anomaly"] is None
            assert key["last"]["reason"] == "anomaly detection disabled: baseline 5 of 10 samples"
        finally:
            await service.stop()
            await nc.close()
        stopped = await asyncio.to_thread(gateway.get, f"/cep/rules/{rule['rule_id']}/anomaly-status", headers=editor)
        assert stopped.status_code == 503 and "evaluator is unreachable" in stopped.json()["detail"]


async def _ready(service: EvaluatorService) -> bool:
    return (await service.checks()["shards"]()).ok
