"""Wire formats of the scheduler's messages: the `cep.schedule` run event and the run record (JSON via codec).

- run event   CEP_EVENTS `cep.internal.<tenant>`: what the evaluator turns into the run's own event;
              `Nats-Msg-Id` = `sched:<rule_id>:<scheduled_at>:<fencing>` (the event id), time = `scheduled_at`
- run record  CEP_SCHEDULE_RUNS `cep.scheduler.runs.<tenant>.<rule_id>`: one per scheduled time, fired, caught up
              or missed; `Nats-Msg-Id` = `run:<tenant>:<rule_id>:<scheduled_at>:<fencing>`; read by the gateway
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from services.common import codec
from services.common.domain.events.model import SCHEDULE_EVENT_TYPE, format_time, parse_time
from services.common.domain.schedules.cron import RunStatus
from services.common.nats import subjects

RUN_STATUSES: tuple[RunStatus, ...] = ("fired", "caught_up", "missed")


@dataclass(frozen=True)
class RunRecord:
    """One scheduled time of one rule and what became of it; `started_at`/`delay_ms` are None when missed."""

    tenant: str
    rule_id: str
    rule_version: int
    scheduled_at: datetime
    status: RunStatus
    instance: str
    fencing: int
    started_at: datetime | None = None
    delay_ms: float | None = None

    @property
    def stamp(self) -> str:
        return format_time(self.scheduled_at)

    def event_msg_id(self) -> str:
        """The run event's `Nats-Msg-Id`, which becomes its event id downstream."""
        return f"sched:{self.rule_id}:{self.stamp}:{self.fencing}"

    def msg_id(self) -> str:
        return f"run:{self.tenant}:{self.rule_id}:{self.stamp}:{self.fencing}"

    def subject(self) -> str:
        return subjects.schedule_runs_subject(self.tenant, self.rule_id)

    def event_body(self) -> bytes:
        """The `cep.schedule` event of a run that starts (its event time is the scheduled time)."""
        return codec.dumps(
            {
                "event_type": SCHEDULE_EVENT_TYPE,
                "rule_id": self.rule_id,
                "scheduled_at": self.stamp,
                "timestamp": self.stamp,
                "run": self.status,
                "instance": self.instance,
                "fencing": self.fencing,
            }
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "rule_id": self.rule_id,
            "rule_version": self.rule_version,
            "scheduled_at": self.stamp,
            "status": self.status,
            "instance": self.instance,
            "fencing": self.fencing,
            "started_at": None if self.started_at is None else format_time(self.started_at),
            "delay_ms": self.delay_ms,
        }

    def encode(self) -> bytes:
        return codec.dumps(self.as_dict())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunRecord:
        """Decode a record; KeyError, TypeError or ValueError name what is wrong."""
        status = data["status"]
        if status not in RUN_STATUSES:
            raise ValueError(f"status must be one of {', '.join(RUN_STATUSES)}, got {status!r}")
        started = data.get("started_at")
        delay = data.get("delay_ms")
        return cls(
            tenant=str(data["tenant"]),
            rule_id=str(data["rule_id"]),
            rule_version=int(data["rule_version"]),
            scheduled_at=parse_time(data["scheduled_at"]),
            status=cast(RunStatus, status),
            instance=str(data["instance"]),
            fencing=int(data["fencing"]),
            started_at=None if started is None else parse_time(started),
            delay_ms=None if delay is None else float(delay),
        )

    @classmethod
    def decode(cls, data: bytes) -> RunRecord:
        body = codec.loads(data)
        if not isinstance(body, dict):
            raise ValueError("a run record is a JSON object")
        return cls.from_dict(body)
