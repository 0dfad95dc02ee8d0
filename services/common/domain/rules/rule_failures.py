"""A rule that raised on an event: recorded by the engine, reported on the rule, never blocking the others."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.common.domain.events.model import Event, format_time


@dataclass(frozen=True)
class RuleFailure:
    """Rule `rule_id` of `tenant` raised `error` on `event`; the other candidate rules of the event still ran."""

    rule_id: str
    tenant: str
    event: Event
    error: str

    @property
    def event_id(self) -> str:
        return self.event.event_id

    def describe(self) -> dict[str, Any]:
        """JSON-ready: the rule, the event (id, time, type, payload) and the error text."""
        event = self.event
        return {
            "rule_id": self.rule_id,
            "tenant": self.tenant,
            "event_id": event.event_id,
            "error": self.error,
            "event": {
                "event_id": event.event_id,
                "time": format_time(event.time),
                "event_type": event.event_type,
                "received_at": None if event.received_at is None else format_time(event.received_at),
                "payload": dict(event.payload),
            },
        }


def failure_of(rule_id: str, tenant: str, event: Event, exc: BaseException) -> RuleFailure:
    """The failure of one rule on one event: the exception as `<Type>: <message>` (at most 1000 characters)."""
    return RuleFailure(rule_id, tenant, event, f"{type(exc).__name__}: {exc}"[:1000])
