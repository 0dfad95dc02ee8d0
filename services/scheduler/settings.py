"""Settings of the scheduler service (environment variables with the CEP_ prefix)."""

from __future__ import annotations

import os
from datetime import timedelta

from pydantic import Field, model_validator

from services.common.domain.schedules.cron import Misfire, MisfirePolicy
from services.common.settings import ServiceSettings


class SchedulerSettings(ServiceSettings):
    """`CEP_SCHEDULER_PORT` (ops HTTP), `CEP_SCHEDULER_GRPC_PORT` (gRPC) and the lease and misfire settings.

    - `CEP_SCHEDULER_LEASE_SECONDS` (10): the lease period. A killed leader is replaced within about one
      period; every replica must use the same value (it is the TTL of the `cep-scheduler-live` bucket).
    - `CEP_SCHEDULER_INSTANCE`: this replica's name (default `<host>:<pid>`; a pod name on Kubernetes).
    - `CEP_SCHEDULER_MISFIRE_GRACE_SECONDS` (60): a run this late still fires with its own time; older ones are
      misfires (the rule's `misfire` policy). At least twice the lease, so a leader change never misfires.
    - `CEP_SCHEDULER_CATCH_UP_HORIZON_SECONDS` (3600): how old a misfire `catch_up` still fires once.
    - `CEP_SCHEDULER_CRON_SECONDS` (false, TEST ONLY): read the cron minute field as seconds, so
      `* * * * *` fires every second; lets real-process tests see many runs and a failover in seconds.
    """

    scheduler_port: int = 8084
    scheduler_grpc_port: int = 50053
    scheduler_lease_seconds: float = Field(10.0, ge=0.5, le=300)
    scheduler_instance: str = Field(default_factory=lambda: f"{os.uname().nodename}:{os.getpid()}", max_length=200)
    scheduler_misfire_grace_seconds: float = Field(60.0, ge=0)
    scheduler_catch_up_horizon_seconds: float = Field(3600.0, ge=0)
    scheduler_cron_seconds: bool = False

    @model_validator(mode="after")
    def _grace_covers_a_takeover(self) -> SchedulerSettings:
        if self.scheduler_misfire_grace_seconds < 2 * self.scheduler_lease_seconds:
            raise ValueError(
                "scheduler_misfire_grace_seconds must be at least twice scheduler_lease_seconds "
                "(a leader change must not turn runs into misfires)"
            )
        return self

    def misfire_policy(self, kind: Misfire) -> MisfirePolicy:
        return MisfirePolicy(
            kind=kind,
            grace=timedelta(seconds=self.scheduler_misfire_grace_seconds),
            horizon=timedelta(seconds=self.scheduler_catch_up_horizon_seconds),
        )
