"""The evaluator service: readiness, gRPC ShardStatus, the shard map and the shards' Prometheus metrics."""

from __future__ import annotations

from pathlib import Path

import grpc
from prometheus_client import CollectorRegistry, generate_latest

from services.common.cli.procs import free_port
from services.common.domain.evaluation.sharding import Placement
from services.common.domain.events.model import Event
from services.common.messages import codec
from services.common.messages.work import work_event, work_rule
from services.common.nats import subjects
from services.common.pb.cep.v1 import evaluator_pb2, evaluator_pb2_grpc
from services.evaluator.app import EvaluatorService
from services.evaluator.driver import ShardDriver
from services.evaluator.options import ShardOptions
from services.evaluator.settings import EvaluatorSettings
from services.evaluator.shard_map import ShardMap
from tests.evaluator.kit import at, change, connect, eventually, make_rule, publish_in_order
from tests.support.nats import NatsServer


async def test_status_over_grpc_readiness_and_metrics(broker: NatsServer, ray_session: None, tmp_path: Path) -> None:
    port = free_port()
    settings = EvaluatorSettings(
        nats_url=broker.url, state_dir=tmp_path, shards=2, evaluator_grpc_port=port, tick_interval=0.2
    )
    registry = CollectorRegistry()
    service = EvaluatorService(settings, registry)
    nc, js = await connect(broker.url)
    await service.start()
    try:

        async def ready() -> bool:
            return (await service.checks()["shards"]()).ok

        await eventually(ready, "every shard consuming", timeout=60)
        kv = await js.key_value(subjects.CONTROL_BUCKET)
        assert codec.loads((await kv.get(subjects.SHARD_MAP_KEY)).value or b"") == {
            "epoch": 1,
            "shards": 2,
            "placement": "series",
        }

        rule = make_rule({"trigger_type": "event", "trigger_spec": {"event_type": "error"}}, "errors")
        owner = Placement(2).series_shard(rule, "")
        occurrence = work_event(Event("e1", "acme", at(0), {}, "error"))
        await publish_in_order(js, subjects.work_subject(1 - owner), [work_rule(change(rule))])
        seq = (await publish_in_order(js, subjects.work_subject(owner), [work_rule(change(rule)), occurrence]))[-1]

        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = evaluator_pb2_grpc.EvaluatorStub(channel)

            async def processed() -> bool:
                reply = await stub.ShardStatus(evaluator_pb2.ShardStatusRequest())
                return reply.shards[owner].last_seq >= seq

            await eventually(processed, "the event to be processed")
            reply = await stub.ShardStatus(evaluator_pb2.ShardStatusRequest())
        assert [s.shard for s in reply.shards] == [0, 1]
        assert all(s.alive and s.consuming and s.pending >= 0 and s.poison == 0 and not s.error for s in reply.shards)
        assert reply.shards[owner].rules == 1 and reply.shards[1 - owner].rules == 1  # every shard holds every rule

        await service.driver.status()  # the collector shows the statuses the driver saw last
        text = generate_latest(registry).decode()
        for shard in (0, 1):
            assert f'cep_consumer_pending{{consumer="shard-{shard}",stream="CEP_WORK"}}' in text
        assert 'cep_transitions_total{kind="fired"} 1.0' in text
        assert "cep_eval_batch_seconds_count" in text and 'cep_eval_batch_seconds_bucket{le="+Inf"}' in text
        assert "cep_eval_snapshot_child_cpu_seconds_total" in text
        detail = (await service.checks()["shards"]()).detail  # what /readyz shows of each shard
        assert [s["shard"] for s in detail["shards"]] == [0, 1]
        assert {"series", "snapshot_seq", "snapshot_children", "snapshot_child_last"} <= set(detail["shards"][owner])
    finally:
        await service.stop()
        await nc.close()
    assert list(registry.collect()) == []  # the collector left with the service


async def test_the_shard_map_epoch_moves_only_when_the_shard_count_changes(broker: NatsServer) -> None:
    nc, js = await connect(broker.url)
    maps = [
        await ShardDriver(ShardOptions(shards=count), broker.url).publish_shard_map(js) for count in (2, 2, 3, 3, 2)
    ]
    assert maps == [ShardMap(1, 2), ShardMap(1, 2), ShardMap(2, 3), ShardMap(2, 3), ShardMap(3, 2)]
    await nc.close()
