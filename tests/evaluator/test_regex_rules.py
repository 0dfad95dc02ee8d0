"""Regex rules in a shard all tenants share: RE2 answers the evil pattern at once, and a pattern saved before
RE2 still decodes and only makes its own condition an error."""

from __future__ import annotations

import time
from typing import Any

from services.common.domain.events.model import Event
from services.common.messages.work import RuleChange, work_rule
from services.evaluator.processor import Output, ShardState
from services.evaluator.work import EventWork, RuleWork, decode
from tests.evaluator.kit import at, make_rule

LOGS: dict[str, Any] = {
    "trigger_type": "event",
    "trigger_spec": {"event_type": "log"},
    "conditions": {"field": "msg", "op": "regex", "value": "(a+)+$"},
}
ERRORS: dict[str, Any] = {"trigger_type": "event", "trigger_spec": {"event_type": "error"}}


def test_an_evil_pattern_does_not_stall_the_shard() -> None:
    evil, other = make_rule(LOGS, "evil", tenant="mallory"), make_rule(ERRORS, "r")
    state, out = ShardState.from_rules([evil, other]), Output()
    logs = [EventWork(n, Event(f"m{n}", "mallory", at(n), {"msg": "a" * 34 + "b"}, "log")) for n in range(50)]
    start = time.perf_counter()
    state.run(logs, out)  # Python's re: minutes for each of these events
    state.run([EventWork(50, Event("e1", "acme", at(60), {"service": "api"}, "error"))], out)
    assert time.perf_counter() - start < 1.0
    assert [(t.tenant, t.rule_id, t.kind) for t, _ in out.alerts] == [("acme", "r", "fired")]
    state.run([EventWork(51, Event("m51", "mallory", at(61), {"msg": "a" * 34}, "log"))], out)
    assert [(t.tenant, t.rule_id) for t, _ in out.alerts][-1] == ("mallory", "evil")


def test_a_pattern_saved_before_re2_decodes_and_fails_alone() -> None:
    rule = make_rule(LOGS, "old", tenant="mallory")
    legacy = {**rule.canonical(), "conditions": {"field": "msg", "op": "regex", "value": r"(a)\1"}}
    message = work_rule(RuleChange("upsert", "mallory", "old", 1, legacy, rule.updated_at))
    work = decode(1, message)  # as the rule bucket holds it: not refused, or the shard would drop the rule
    assert isinstance(work, RuleWork) and work.rule is not None
    state, out = ShardState.from_rules([make_rule(ERRORS, "r")]), Output()
    state.run([work], out)
    state.run([EventWork(2, Event("m1", "mallory", at(1), {"msg": "aa"}, "log"))], out)
    state.run([EventWork(3, Event("e1", "acme", at(2), {"service": "api"}, "error"))], out)
    assert [(t.tenant, t.rule_id) for t, _ in out.alerts] == [("acme", "r")]
    assert out.failures == []  # a condition error is an unknown result, not a raising rule
