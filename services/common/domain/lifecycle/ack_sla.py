"""The ACK SLA: how long an open event of each priority may wait for an acknowledgement, and when it has breached.

Pure: the gateway's check (services/gateway/ack_sla.py) reads the events and the clock, asks `check` about each
open event, and emits the `cep.ack.sla_breached` event a Breach describes. The platform default comes from
`CEP_ACK_SLA` (`P1=15m,P2=1h,P3=4h`); a tenant's own policy (issue 7's team settings) is built the same way,
from a mapping, with `ack_sla_from`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

from services.common.domain.events.model import format_time, parse_time
from services.common.domain.rules.durations import format_duration, parse_duration
from services.common.domain.rules.model import Priority

SLA_EVENT = "cep.ack.sla_breached"
SLA_VARIABLE = "CEP_ACK_SLA"
DEFAULT_ACK_SLA = "P1=15m,P2=1h,P3=4h"
PRIORITIES: tuple[str, ...] = get_args(Priority)
_OFF = "off"


class AckSlaConfigError(ValueError):
    """An ACK SLA setting that cannot be used; the message names the setting and the entry."""


@dataclass(frozen=True)
class AckSla:
    """Per priority, the seconds an event may stay open (not acked, not resolved); a priority absent has no SLA."""

    limits: Mapping[str, float] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return bool(self.limits)

    def limit(self, priority: str) -> float | None:
        """The SLA of a priority in seconds, None when it has none."""
        return self.limits.get(priority)

    def cutoffs(self, now: datetime) -> dict[str, datetime]:
        """Per priority with an SLA: an open event fired at or before this instant has breached it by `now`."""
        return {priority: now - timedelta(seconds=seconds) for priority, seconds in self.limits.items()}

    def describe(self) -> str:
        """The setting's text form (`P1=15m,P2=1h`), or `off`."""
        if not self.limits:
            return _OFF
        return ",".join(f"{p}={format_duration(self.limits[p])}" for p in PRIORITIES if p in self.limits)


def parse_ack_sla(text: str, *, name: str = SLA_VARIABLE) -> AckSla:
    """`P1=15m,P2=1h` -> AckSla; empty or `off`: no SLA. Raise AckSlaConfigError naming `name` and the entry."""
    stripped = text.strip()
    if not stripped or stripped.lower() == _OFF:
        return AckSla()
    limits: dict[str, str] = {}
    for raw in stripped.split(","):
        entry = raw.strip()
        if not entry:
            continue
        priority, sep, duration = entry.partition("=")
        if not sep:
            raise AckSlaConfigError(f"{name}: {entry[:60]!r} is not PRIORITY=DURATION (like 'P1=15m'), nor 'off'")
        key = priority.strip().upper()
        if key in limits:
            raise AckSlaConfigError(f"{name}: priority {key} is given twice")
        limits[key] = duration.strip()
    return ack_sla_from(limits, name=name)


def ack_sla_from(limits: Mapping[str, str], *, name: str) -> AckSla:
    """An AckSla from `{"P1": "15m", ...}` (a setting already split); errors name `name` and the priority."""
    seconds: dict[str, float] = {}
    for priority, duration in limits.items():
        if priority not in PRIORITIES:
            raise AckSlaConfigError(f"{name}: unknown priority {priority[:20]!r} (use {', '.join(PRIORITIES)})")
        try:
            value = parse_duration(duration)
        except ValueError as exc:
            raise AckSlaConfigError(f"{name}: {priority}: {exc}") from None
        if value <= 0:
            raise AckSlaConfigError(f"{name}: {priority}: the SLA must be longer than 0")
        seconds[priority] = value
    return AckSla(seconds)


@dataclass(frozen=True)
class Watched:
    """What the check needs to know of an event (`event_type` is that of its latest occurrence, if any)."""

    event_id: str
    tenant: str
    rule_id: str
    rule_name: str
    priority: str
    severity: str
    status: str
    fired_at: datetime
    fingerprint: str
    group_key: str
    summary: str
    event_type: str | None = None
    acked_at: datetime | None = None
    resolved_at: datetime | None = None  # in event time: when the episode ended, not when that was recorded


NoBreachReason = Literal["acked", "resolved", "no_sla", "not_due", "sla_event", "catching_up"]


@dataclass(frozen=True)
class NoBreach:
    """Why an event has not breached (yet): `due_at` is when it will, for `not_due`."""

    reason: NoBreachReason
    due_at: datetime | None = None


@dataclass(frozen=True)
class Breach:
    """An open event past its SLA: the `cep.ack.sla_breached` event to emit and the history entry to record."""

    event: Watched
    sla_seconds: float
    due_at: datetime
    overdue_seconds: float

    @property
    def sla(self) -> str:
        return format_duration(self.sla_seconds)

    @property
    def msg_id(self) -> str:
        """One breach per event, ever: the Nats-Msg-Id of its event and the id of its transitions row."""
        return f"sla:{self.event.event_id}"

    @property
    def note(self) -> str:
        return f"not acknowledged within {self.sla} ({self.event.priority})"

    def payload(self) -> dict[str, Any]:
        """The internal event rules may match (`event_type: cep.ack.sla_breached`, group by `alert_fingerprint`)."""
        event = self.event
        return {
            "event_type": SLA_EVENT,
            "event_id": event.event_id,
            "rule_id": event.rule_id,
            "rule_name": event.rule_name,
            "priority": event.priority,
            "severity": event.severity,
            "fired_at": format_time(event.fired_at),
            "due_at": format_time(self.due_at),
            "sla": self.sla,
            "overdue_seconds": self.overdue_seconds,
            "alert_fingerprint": event.fingerprint,
            "group_key": event.group_key,
            "summary": event.summary,
        }

    def history_entry(self) -> dict[str, Any]:
        """The event's history line, at the moment the SLA ran out (so it sorts before a late ACK)."""
        return {"at": format_time(self.due_at), "status": "sla_breached", "actor": "system", "note": self.note}


def check(sla: AckSla, event: Watched, now: datetime) -> Breach | NoBreach:
    """Whether an event has breached its ACK SLA at `now`, and if not, why.

    An event breaches only if it was neither acked nor resolved at or before its deadline. A resolution counts by
    its own time (event time), so one recorded late, after the deadline, still cancels the breach. An event about
    a breach itself never breaches: an unacknowledged escalation would otherwise raise a new breach, and a new
    escalation, every SLA period for as long as nobody answers.
    """
    if event.event_type == SLA_EVENT:
        return NoBreach("sla_event")
    limit = sla.limit(event.priority)
    if limit is None:
        return NoBreach("no_sla")
    due_at = event.fired_at + timedelta(seconds=limit)
    closed = _closed_by(event, due_at)
    if closed is not None:
        return NoBreach(closed)
    if now < due_at:
        return NoBreach("not_due", due_at)
    return Breach(event, limit, due_at, round((now - due_at).total_seconds(), 3))


def judge(sla: AckSla, event: Watched, now: datetime, horizon: datetime | None, seen_at: datetime) -> Breach | NoBreach:
    """`check`, once the pipeline has caught up with this event (services/common/domain/lifecycle/catch_up.py).

    A breach stands only when the horizon has passed both the deadline (every resolution up to it is recorded)
    and `seen_at`, when the sweep first saw the event open (the event that raised it was stored before then, so
    its own timers ran through the horizon too). Until then: `catching_up`, with the deadline.
    """
    verdict = check(sla, event, now)
    if isinstance(verdict, Breach) and (horizon is None or horizon < max(verdict.due_at, seen_at)):
        return NoBreach("catching_up", verdict.due_at)
    return verdict


def _closed_by(event: Watched, due_at: datetime) -> Literal["acked", "resolved"] | None:
    """Whether the event was acked or resolved at or before `due_at`; a closed event of unknown time counts."""
    if event.acked_at is not None and event.acked_at <= due_at:
        return "acked"
    if event.resolved_at is not None and event.resolved_at <= due_at:
        return "resolved"
    if event.status != "open" and event.acked_at is None and event.resolved_at is None:
        return "acked" if event.status == "acked" else "resolved"
    return None


def with_entry(history: Sequence[Any], entry: Mapping[str, Any]) -> list[Any]:
    """The history with one more entry, chronological (`open` first; entries at the same instant keep their order)."""
    return sorted([*history, dict(entry)], key=lambda e: (e.get("status") != "open", parse_time(e["at"])))
