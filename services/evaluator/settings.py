"""Settings of the evaluator service (environment variables with the CEP_ prefix, plus Ray's RAY_ADDRESS)."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from services.common.settings import ServiceSettings


class EvaluatorSettings(ServiceSettings):
    """Ports, shard count and where Ray runs (`local` unless `RAY_ADDRESS` names a cluster)."""

    evaluator_port: int = 8082
    evaluator_grpc_port: int = 50051
    shards: int = Field(default=2, ge=1, le=256)
    ray_address: str | None = Field(default=None, validation_alias=AliasChoices("CEP_RAY_ADDRESS", "RAY_ADDRESS"))
    ray_num_cpus: int | None = Field(default=None, ge=1)
