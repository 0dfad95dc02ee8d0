"""The scheduler's messages: the `cep.schedule` run event and the run record.

- run event   CEP_EVENTS `cep.internal.<tenant>`: what the evaluator turns into the run's own event;
              `Nats-Msg-Id` = `sched:<rule_id>:<scheduled_at>:<fencing>` (the event id), time = `scheduled_at`
- run record  CEP_SCHEDULE_RUNS `cep.scheduler.runs.<tenant>.<rule_id>`: one per scheduled time, fired, caught up
              or missed; `Nats-Msg-Id` = `run:<tenant>:<rule_id>:<scheduled_at>:<fencing>`; read by the gateway
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.common.domain.events.model import SCHEDULE_EVENT_TYPE, format_time
from services.common.domain.schedules.cron import RunStatus
from services.common.messages.codec import Time, decode, dumps
from services.common.nats import subjects

RUN_STATUSES: tuple[RunStatus, ...] = ("fired", "caught_up", "missed")


@dataclass(frozen=True)
class RunRecord:
    """One scheduled time of one rule and what became of it; `started_at`/`delay_ms` are None when missed."""

    tenant: str
    rule_id: str
    rule_version: int
    scheduled_at: Time
    status: RunStatus
    instance: str
    fencing: int
    started_at: Time | None = None
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
        return dumps(
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
        return dumps(self.as_dict())

    @classmethod
    def decode(cls, data: bytes | Mapping[str, Any]) -> RunRecord:
        """A run record; MessageError (a ValueError) naming the field when malformed."""
        return decode(cls, data)
