"""The shard shell around refused series: collected per batch, reported at most once a minute per rule and quota,
counted per tenant in `cep_eval_series_refused_total`, and snapshot failures in `cep_eval_snapshot_failures_total`."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from services.common.domain.events.model import Event
from services.common.domain.quotas.series_quota import SeriesLimits, SeriesQuotas, SeriesRefusals
from services.evaluator.metrics import ShardCollector, ShardCounters
from services.evaluator.processor import Output, ShardState
from services.evaluator.quota_watch import RefusalReports
from services.evaluator.work import EventWork
from tests.evaluator.kit import at, make_rule

ERRORS = {"trigger_type": "event", "trigger_spec": {"event_type": "error", "group_by": ["host"]}}


def refused(rule_id: str, count: int, key: str, quota: Any = "series_per_rule") -> SeriesRefusals:
    return SeriesRefusals(rule_id, "acme", quota, 3, count, key)


def test_a_batch_collects_the_refusals_of_the_engine() -> None:
    state = ShardState.from_rules([make_rule(ERRORS, "r")], quotas=SeriesQuotas(SeriesLimits(per_rule=2)))
    out = Output()
    events = [Event(f"e{n}", "acme", at(n), {"host": f"h{n}"}, "error") for n in range(5)]
    state.run([EventWork(n + 1, event) for n, event in enumerate(events)], out)
    assert len(out.alerts) == 2
    assert [(r.rule_id, r.count, r.last_key) for r in out.refusals] == [("r", 3, "host=h4")]


def test_reports_go_out_at_once_then_at_most_once_a_period_with_the_count_meanwhile() -> None:
    reports = RefusalReports(period=60)
    reports.add([refused("r", 2, "host=a")])
    assert [(r.count, r.last_key) for r in reports.due(1000)] == [(2, "host=a")]  # the first one at once
    reports.add([refused("r", 3, "host=b"), refused("r", 1, "host=c"), refused("s", 1, "host=x")])
    assert [(r.rule_id, r.count) for r in reports.due(1010)] == [("s", 1)]  # `r` was reported 10 s ago
    assert reports.due(1059) == []
    assert [(r.rule_id, r.count, r.last_key) for r in reports.due(1060)] == [("r", 4, "host=c")]
    assert reports.due(2000) == []  # nothing waiting


def test_refused_series_and_snapshot_failures_are_counters_that_survive_restarts() -> None:
    collector, registry = ShardCollector(), CollectorRegistry()
    registry.register(collector)

    def status(incarnation: str, acme: int, globex: int, failures: int) -> dict[str, Any]:
        counters = ShardCounters(snapshot_failures=failures)
        counters.refused("acme", acme)
        if globex:
            counters.refused("globex", globex)
        return {"shard": 0, "incarnation": incarnation, "counters": counters.as_dict()}

    collector.update([status("a", 5, 0, 1)])
    collector.update([status("b", 2, 7, 0)])  # restarted: the first incarnation's counts stay in the totals
    text = generate_latest(registry).decode()
    assert 'cep_eval_series_refused_total{tenant="acme"} 7.0' in text
    assert 'cep_eval_series_refused_total{tenant="globex"} 7.0' in text
    assert "cep_eval_snapshot_failures_total 1.0" in text
