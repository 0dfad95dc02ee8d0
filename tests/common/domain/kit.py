"""Shared builders for engine tests: rules from bodies, events at literal UTC times, scripted runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from services.common.domain.evaluation.rule_engine import RuleEngine
from services.common.domain.events.model import Event
from services.common.domain.lifecycle.transitions import Transition
from services.common.domain.rules.model import Rule, RuleSpec, parse_rule

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    """T0 plus some seconds: scenario times read as offsets."""
    return T0 + timedelta(seconds=seconds)


def make_rule(
    body: Mapping[str, Any], rule_id: str = "r1", *, active: bool = True, version: int = 1, tenant: str = "default"
) -> Rule:
    """A stored rule from a create body, validated through the same `parse_rule` as the API."""
    spec = parse_rule({"name": rule_id, **body})
    fields = {name: getattr(spec, name) for name in RuleSpec.model_fields}
    stamps = {"created_at": T0, "updated_at": T0}
    return Rule.model_validate(
        {**fields, "active": active, "rule_id": rule_id, "tenant": tenant, "version": version} | stamps
    )


def metric(metric_name: str = "cpu_usage", operator: str = ">", threshold: float = 85, **extra: Any) -> dict[str, Any]:
    trigger = {"metric_name": metric_name, "operator": operator, "threshold": threshold, **extra}
    return {"trigger_type": "metric", "trigger_spec": trigger}


def event(
    seconds: float,
    payload: Mapping[str, Any],
    event_type: str | None = None,
    *,
    event_id: str = "",
    tenant: str = "default",
) -> Event:
    return Event(event_id or f"ev-{seconds}-{sorted(payload.items())!r}", tenant, at(seconds), payload, event_type)


Step = tuple[str, Any]  # ("event", Event) | ("tick", seconds)


def run(engine: RuleEngine, steps: Sequence[Step]) -> list[Transition]:
    """Feed events and ticks in order, one at a time; return every transition."""
    out: list[Transition] = []
    for kind, item in steps:
        out += engine.on_events([item]) if kind == "event" else engine.on_tick(at(item))
    return out


def brief(transitions: Sequence[Transition]) -> list[tuple[str, str, float, str]]:
    """(kind, group key, seconds after T0, reason): what scenario tables compare."""
    return [(t.kind, t.group_key, (t.at - T0).total_seconds(), t.reason) for t in transitions]


# An hbos anomaly rule that refits often (every 20 samples, swapped in 6 samples later): the refit tests' rule.
HBOS_REFITTING: dict[str, Any] = {
    "trigger_type": "anomaly",
    "trigger_spec": {
        "value_path": "v",
        "anomaly_method": "hbos",
        "threshold": 1.0,
        "min_baseline": 30,
        "training_window": 60,
        "refit_every": 20,
        "refit_lag": 6,
    },
}
BY_HOST = {**HBOS_REFITTING, "trigger_spec": {**HBOS_REFITTING["trigger_spec"], "group_by": ["host"]}}
