"""The built-in rule of posted alerts in both engines: exact labels, absorb, endsAt resolves, a tenant rule claims."""

from __future__ import annotations

from typing import Any

import pytest

from services.common.domain.evaluation.compiled.engine import CompiledEngine
from services.common.domain.evaluation.rule_engine import RuleEngine
from services.common.domain.events.model import format_time
from services.common.domain.posted_alerts.builtin_rule import (
    ALERT_EVENT_TYPE,
    builtin_rule_body,
    is_builtin_rule,
    new_builtin_rule_id,
)
from services.common.domain.rules.model import Rule
from tests.common.domain.kit import at, event, make_rule

ENGINES = [RuleEngine, CompiledEngine]
BUILTIN = new_builtin_rule_id()
LABELS = {"alertname": "Disk", "instance": "db-1", "severity": "page"}


def _builtin(tenant: str = "default") -> Rule:
    return make_rule(builtin_rule_body(), BUILTIN, tenant=tenant)


def _alert(seconds: float, ends: float | None = None, labels: dict[str, str] | None = None, **kw: Any) -> Any:
    payload = {
        "event_type": ALERT_EVENT_TYPE,
        "labels": labels or LABELS,
        "annotations": {"summary": "disk full"},
        "startsAt": format_time(at(seconds)),
        "endsAt": format_time(at(seconds + 300 if ends is None else ends)),
    }
    return event(seconds, payload, event_id=f"a-{seconds}", **kw)


def _engine(engine_class: type[RuleEngine], *rules: Rule) -> RuleEngine:
    engine = engine_class()
    for rule in rules:
        engine.upsert_rule(rule)
    return engine


def test_only_a_server_made_event_rule_is_the_builtin_one() -> None:
    assert is_builtin_rule(_builtin())
    assert not is_builtin_rule(make_rule(builtin_rule_body(), "r1"))  # a client's id never has the prefix
    other = make_rule({"trigger_type": "event", "trigger_spec": {"event_type": "deploy"}}, BUILTIN)
    assert not is_builtin_rule(other)  # edited to another event type: an ordinary event rule again


@pytest.mark.parametrize("engine_class", ENGINES, ids=["reference", "compiled"])
def test_posted_labels_exactly_then_absorb_then_resolve_at_ends_at(engine_class: type[RuleEngine]) -> None:
    engine = _engine(engine_class, _builtin())
    fired = engine.on_events([_alert(0)])
    assert [(t.kind, dict(t.labels)) for t in fired] == [("fired", LABELS)]
    updated = engine.on_events([_alert(60, ends=400)])  # a re-send pushes endsAt on
    assert [(t.kind, t.count) for t in updated] == [("updated", 2)]
    assert engine.on_tick(at(399)) == []
    resolved = engine.on_tick(at(400))
    assert [(t.kind, t.at, dict(t.labels)) for t in resolved] == [("resolved", at(400), LABELS)]


@pytest.mark.parametrize("engine_class", ENGINES, ids=["reference", "compiled"])
def test_an_ends_at_in_the_past_resolves_now_and_opens_nothing(engine_class: type[RuleEngine]) -> None:
    engine = _engine(engine_class, _builtin())
    assert engine.on_events([_alert(0, ends=-1)]) == []  # already over: no event
    engine.on_events([_alert(10)])
    resolved = engine.on_events([_alert(20, ends=15)])
    assert [(t.kind, t.at) for t in resolved] == [("resolved", at(20))]
    assert engine.on_tick(at(1000)) == []


@pytest.mark.parametrize("engine_class", ENGINES, ids=["reference", "compiled"])
def test_each_label_set_is_its_own_event(engine_class: type[RuleEngine]) -> None:
    engine = _engine(engine_class, _builtin())
    out = engine.on_events([_alert(0), _alert(1, labels={**LABELS, "instance": "db-2"}), _alert(2)])
    assert [t.kind for t in out] == ["fired", "fired", "updated"]
    assert len({t.event_id for t in out}) == 2


@pytest.mark.parametrize("engine_class", ENGINES, ids=["reference", "compiled"])
def test_a_matching_rule_of_the_tenant_takes_the_alert(engine_class: type[RuleEngine]) -> None:
    mine = make_rule(
        {
            "trigger_type": "event",
            "trigger_spec": {"event_type": ALERT_EVENT_TYPE, "group_by": ["labels.instance"]},
            "conditions": {"field": "labels.severity", "op": "==", "value": "page"},
        },
        "pages",
    )
    theirs = make_rule({"trigger_type": "event", "trigger_spec": {"event_type": ALERT_EVENT_TYPE}}, "t", tenant="b")
    engine = _engine(engine_class, _builtin(), mine, theirs)
    taken = engine.on_events([_alert(0)])
    assert [(t.rule_id, t.kind) for t in taken] == [("pages", "fired")]  # the built-in one stays out
    left = engine.on_events([_alert(1, labels={**LABELS, "severity": "info"})])  # `pages` does not match it
    assert [(t.rule_id, t.kind, dict(t.labels)) for t in left] == [(BUILTIN, "fired", {**LABELS, "severity": "info"})]


@pytest.mark.parametrize("engine_class", ENGINES, ids=["reference", "compiled"])
def test_an_inactive_tenant_rule_takes_nothing(engine_class: type[RuleEngine]) -> None:
    mine = make_rule({"trigger_type": "event", "trigger_spec": {"event_type": ALERT_EVENT_TYPE}}, "m", active=False)
    engine = _engine(engine_class, _builtin(), mine)
    assert [t.rule_id for t in engine.on_events([_alert(0)])] == [BUILTIN]


@pytest.mark.parametrize("engine_class", ENGINES, ids=["reference", "compiled"])
def test_snapshot_restore_keeps_the_ends_at_deadline(engine_class: type[RuleEngine]) -> None:
    engine = _engine(engine_class, _builtin())
    engine.on_events([_alert(0, ends=100)])
    restored = engine_class.restore(engine.snapshot(), [_builtin()])
    assert [(t.kind, t.at) for t in restored.on_tick(at(100))] == [("resolved", at(100))]
