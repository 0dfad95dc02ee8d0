"""`ShapeMemo`: candidates remembered by event shape, including the plain-shape shortcut for payloads without
`event_type`, `metric` or `rule_id`, and never for a schedule run."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.common.domain.evaluation import rule_index
from services.common.domain.evaluation.rule_index import ShapeMemo
from services.common.domain.events.model import SCHEDULE_EVENT_TYPE, Event

_AT = datetime(2026, 5, 1, tzinfo=UTC)


def _event(payload: dict[str, Any], tenant: str = "acme", event_type: str | None = None) -> Event:
    return Event("e", tenant, _AT, payload, event_type)


def _memo() -> tuple[ShapeMemo[str], list[Event]]:
    return ShapeMemo(), []


def test_same_shape_computed_once_and_tenants_apart() -> None:
    memo, seen = _memo()

    def compute(event: Event) -> str:
        seen.append(event)
        return f"{event.tenant}:{sorted(event.payload)}:{event.kind}"

    assert memo.get(_event({"host": "a", "cpu": 1.0}), compute) == "acme:['cpu', 'host']:None"
    assert memo.get(_event({"host": "b", "cpu": 2.0}), compute) == "acme:['cpu', 'host']:None"
    assert memo.get(_event({"host": "b", "cpu": 2.0}, tenant="other"), compute) == "other:['cpu', 'host']:None"
    assert memo.get(_event({"host": "b"}, event_type="login"), compute) == "acme:['host']:login"
    assert len(seen) == 3


def test_shaping_values_are_told_apart() -> None:
    """The payload's `metric`, `event_type` and (alert events) `rule_id` values decide candidates: never shared."""
    memo, seen = _memo()

    def compute(event: Event) -> str:
        seen.append(event)
        return f"{event.payload.get('metric')}/{event.kind}/{event.payload.get('rule_id')}"

    assert memo.get(_event({"metric": "cpu", "value": 1}), compute) == "cpu/None/None"
    assert memo.get(_event({"metric": "mem", "value": 1}), compute) == "mem/None/None"
    assert memo.get(_event({"event_type": "a"}), compute) == "None/a/None"
    assert memo.get(_event({"event_type": "b"}), compute) == "None/b/None"
    fired = "cep.alert.fired"
    assert memo.get(_event({"rule_id": "r1"}, event_type=fired), compute) == f"None/{fired}/r1"
    assert memo.get(_event({"rule_id": "r2"}, event_type=fired), compute) == f"None/{fired}/r2"
    assert memo.get(_event({"metric": "cpu", "value": 2}), compute) == "cpu/None/None"
    assert len(seen) == 6


def test_schedule_runs_are_never_remembered() -> None:
    memo, seen = _memo()
    for _ in range(2):
        memo.get(_event({}, event_type=SCHEDULE_EVENT_TYPE), lambda event: str(seen.append(event)))
    assert len(seen) == 2


def test_bounded(monkeypatch: Any) -> None:
    monkeypatch.setattr(rule_index, "SHAPES_HELD", 3)
    memo, seen = _memo()
    for n in range(10):
        memo.get(_event({f"k{n}": 1}), lambda event: str(seen.append(event)))
    assert len(memo._held) <= 3 and len(memo._plain) <= 3
    memo.clear()
    memo.get(_event({"k0": 1}), lambda event: str(seen.append(event)))
    assert len(seen) == 11
