"""Active-series quotas: a new (rule, group key) series past the rule's or the tenant's limit is refused and counted,
the series already held keep working, a series the engine drops frees its slot, and snapshots keep the counts."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.domain.evaluation.rule_engine import RuleEngine
from services.common.domain.quotas.series_quota import SeriesLimits, SeriesQuotas
from tests.common.domain.kit import at, brief, event, make_rule, metric

ERRORS_BY_HOST: dict[str, Any] = {
    "trigger_type": "event",
    "trigger_spec": {"event_type": "error", "group_by": ["host"], "resolve_after": "1m", "notify_resolved": True},
}
CPU_BY_HOST = metric(group_by=["host"])
SCHEDULE = {"trigger_type": "schedule", "trigger_spec": {"cron": "* * * * *"}}


def engine_with(limits: SeriesLimits, *rules: Any) -> RuleEngine:
    engine = RuleEngine(quotas=SeriesQuotas(limits))
    for rule in rules:
        engine.upsert_rule(rule)
    return engine


def error(seconds: float, host: str, tenant: str = "default") -> Any:
    return event(seconds, {"host": host}, "error", tenant=tenant)


def cpu(seconds: float, host: str, value: float, tenant: str = "default") -> Any:
    return event(seconds, {"host": host, "cpu_usage": value}, tenant=tenant)


PER_RULE_3 = SeriesLimits(per_rule=3, per_tenant=1000)


def test_the_fourth_key_of_an_event_rule_is_refused_and_the_held_ones_still_fire_and_resolve() -> None:
    engine = engine_with(PER_RULE_3, make_rule(ERRORS_BY_HOST))
    fired = engine.on_events([error(0, "a"), error(0, "b"), error(0, "c")])
    assert brief(fired) == [
        (k, f"host={h}", 0.0, "first occurrence") for k, h in [("fired", "a"), ("fired", "b"), ("fired", "c")]
    ]
    assert engine.on_events([error(1, "d")]) == []  # refused: not evaluated for this rule and key
    assert (engine.ledger.refused_by_rule, engine.ledger.refused_by_tenant) == ({"r1": 1}, {"default": 1})
    assert engine.series_held("default") == 3
    [refused] = engine.take_refusals()
    assert (refused.rule_id, refused.tenant, refused.quota, refused.limit, refused.count, refused.last_key) == (
        "r1",
        "default",
        "series_per_rule",
        3,
        1,
        "host=d",
    )
    assert refused.message().startswith("series quota of 3 per rule reached: 1 new group key refused")
    assert "PUT /cep/admin/quotas/default" in refused.message() and "CEP_QUOTA_SERIES_PER_RULE" in refused.message()
    assert engine.take_refusals() == []  # drained; the totals stay
    assert [t.kind for t in engine.on_events([error(2, "a")])] == ["updated"]  # a held key still works
    resolved = engine.on_tick(at(120))  # the three episodes resolve and their series are dropped: slots freed
    assert sorted((t.kind, t.group_key) for t in resolved) == [("resolved", f"host={h}") for h in "abc"]
    assert engine.series_held("default") == 0
    assert brief(engine.on_events([error(130, "d")])) == [("fired", "host=d", 130.0, "first occurrence")]


def test_a_metric_rule_keeps_its_series_so_the_fourth_key_stays_refused() -> None:
    # Metric and anomaly series are never dropped once they took a sample (no idle expiry): their slots stay taken.
    engine = engine_with(PER_RULE_3, make_rule(CPU_BY_HOST))
    assert [t.kind for t in engine.on_events([cpu(0, h, 99) for h in "abc"])] == ["fired"] * 3
    assert engine.on_events([cpu(1, "d", 99), cpu(1, "e", 10)]) == []
    assert engine.ledger.refused_by_rule == {"r1": 2}
    [refused] = engine.take_refusals()  # one entry per rule and quota: the count and the latest key
    assert (refused.count, refused.last_key) == (2, "host=e")
    assert [(t.kind, t.group_key) for t in engine.on_events([cpu(2, "a", 10)])] == [("resolved", "host=a")]
    assert engine.series_held("default") == 3
    assert engine.on_events([cpu(3, "d", 99)]) == []


@pytest.mark.parametrize(
    ("limits", "refused_rule", "quota"),
    [
        (SeriesLimits(per_rule=100, per_tenant=5), "y", "series_per_tenant"),  # x 3 + y 1, x's 4th: the 6th refused
        (SeriesLimits(per_rule=3, per_tenant=100), "x", "series_per_rule"),  # x's fourth refused, y takes both
    ],
)
def test_the_tenant_limit_counts_the_series_of_all_its_rules(
    limits: SeriesLimits, refused_rule: str, quota: str
) -> None:
    x, y = make_rule(ERRORS_BY_HOST, "x", tenant="acme"), make_rule(CPU_BY_HOST, "y", tenant="acme")
    other = make_rule(ERRORS_BY_HOST, "z", tenant="globex")
    engine = engine_with(limits, x, y, other)
    engine.on_events([error(0, h, "acme") for h in "abc"] + [cpu(0, "a", 99, "acme")])
    out = engine.on_events([error(1, "d", "acme"), cpu(1, "b", 99, "acme")])
    assert [t.rule_id for t in out] == sorted({"x", "y"} - {refused_rule})
    [refused] = engine.take_refusals()
    assert (refused.rule_id, refused.tenant, refused.quota) == (refused_rule, "acme", quota)
    assert engine.ledger.refused_by_tenant == {"acme": 1}
    # Another tenant is never refused for acme's series.
    assert [t.rule_id for t in engine.on_events([error(2, h, "globex") for h in "abc"])] == ["z"] * 3
    assert (engine.series_held("acme"), engine.series_held("globex")) == (5, 3)


def test_snapshot_and_restore_keep_the_counts_and_the_refusals_go_on() -> None:
    x, y = make_rule(ERRORS_BY_HOST, "x", tenant="acme"), make_rule(CPU_BY_HOST, "y", tenant="acme")
    limits = SeriesLimits(per_rule=3, per_tenant=5)
    engine = engine_with(limits, x, y)
    engine.on_events([error(0, h, "acme") for h in "abcd"] + [cpu(0, h, 99, "acme") for h in "abc"])
    assert engine.series_held("acme") == 5
    data = json.loads(json.dumps(engine.snapshot()))
    restored = RuleEngine.restore(data, [x, y], quotas=SeriesQuotas(limits))
    assert restored.series_held("acme") == 5  # recounted from the restored series
    assert restored.on_events([cpu(1, "z", 99, "acme")]) == []  # still at the tenant limit
    assert restored.take_refusals()[0].quota == "series_per_tenant"
    restored.on_tick(at(120))  # x's three episodes resolve: their slots are free again
    assert restored.series_held("acme") == 2
    assert [t.group_key for t in restored.on_events([cpu(130, "z", 99, "acme")])] == ["host=z"]


def test_quotas_change_per_tenant_at_once_and_a_lowered_limit_keeps_what_is_held() -> None:
    quotas = SeriesQuotas(SeriesLimits(per_rule=10, per_tenant=10))
    engine = RuleEngine(quotas=quotas)
    engine.upsert_rule(make_rule(ERRORS_BY_HOST))
    engine.on_events([error(0, h) for h in "abc"])
    quotas.set("default", SeriesLimits(per_rule=2, per_tenant=10))  # below what is held
    assert engine.on_events([error(1, "d")]) == []
    assert [t.kind for t in engine.on_events([error(1, h) for h in "abc"])] == ["updated"] * 3
    quotas.set("default", None)  # back to the platform default
    assert [t.group_key for t in engine.on_events([error(2, "d")])] == ["host=d"]


def test_schedule_runs_hold_no_series_and_are_never_refused() -> None:
    engine = engine_with(SeriesLimits(per_rule=1, per_tenant=1), make_rule(ERRORS_BY_HOST), make_rule(SCHEDULE, "cron"))
    engine.on_events([error(0, "a")])
    runs = engine.on_events([event(n, {"rule_id": "cron"}, "cep.schedule") for n in (60, 120)])
    assert [(t.rule_id, t.kind) for t in runs] == [("cron", "fired"), ("cron", "resolved")] * 2
    assert engine.ledger.refused_by_rule == {}


def test_a_non_matching_event_of_a_new_key_is_not_a_refusal() -> None:
    engine = engine_with(PER_RULE_3, make_rule(ERRORS_BY_HOST))
    engine.on_events([error(0, h) for h in "abc"])
    engine.on_events([event(1, {"host": "d"}, "deploy"), event(1, {"host": "e"}, "info")])  # no series would be held
    assert engine.ledger.refused_by_rule == {}


def test_an_inactive_anomaly_rule_learning_a_new_key_is_refused_too() -> None:
    anomaly = {
        "trigger_type": "anomaly",
        "trigger_spec": {"value_path": "v", "anomaly_method": "zscore", "threshold": 3, "group_by": ["host"]},
    }
    engine = engine_with(SeriesLimits(per_rule=2, per_tenant=10), make_rule(anomaly, active=False))
    engine.on_events([event(n, {"v": n, "host": h}) for n, h in enumerate("abc")])
    assert engine.series_held("default") == 2 and engine.ledger.refused_by_rule == {"r1": 1}


def test_a_trigger_of_a_new_key_past_the_quota_says_why_and_holds_nothing() -> None:
    engine = engine_with(PER_RULE_3, make_rule(ERRORS_BY_HOST))
    engine.on_events([error(0, h) for h in "abc"])
    outcome = engine.trigger("r1", error(1, "d"))
    assert (outcome.matched, outcome.state, outcome.event_id, outcome.transitions) == (False, "no_match", None, [])
    assert outcome.reason == "series quota reached"
    assert outcome.errors[0].startswith("series quota of 3 per rule reached")
    assert engine.series_held("default") == 3 and engine.ledger.refused_by_rule == {"r1": 1}


def test_deleting_or_changing_a_rule_frees_its_series() -> None:
    x, y = make_rule(CPU_BY_HOST, "x"), make_rule(CPU_BY_HOST, "y")
    engine = engine_with(SeriesLimits(per_rule=10, per_tenant=3), x, y)
    engine.on_events([cpu(0, h, 99) for h in "abc"])  # x takes a, y a, x b; then the tenant is full
    assert engine.series_held("default") == 3 and engine.ledger.refused_by_tenant == {"default": 3}
    engine.remove_rule("x", at=at(1))
    assert engine.series_held("default") == 1
    engine.upsert_rule(make_rule(metric(threshold=90, group_by=["host"]), "y", version=2), at=at(2))
    assert engine.series_held("default") == 0  # what y matches changed: its series started afresh
    assert [t.group_key for t in engine.on_events([cpu(3, h, 99) for h in "cde"])] == ["host=c", "host=d", "host=e"]


# -- the ledger never drifts from the series held, whatever happens -----------------------------------------------

RULES = [
    make_rule(ERRORS_BY_HOST, "e", tenant="acme"),
    make_rule(CPU_BY_HOST, "m", tenant="acme"),
    make_rule(SCHEDULE, "s", tenant="acme"),
    make_rule(ERRORS_BY_HOST, "g", tenant="globex"),
]
steps = st.lists(
    st.one_of(
        st.tuples(st.just("error"), st.sampled_from(["acme", "globex"]), st.sampled_from("abcdef")),
        st.tuples(st.just("cpu"), st.sampled_from(["acme"]), st.sampled_from("abcdef"), st.integers(50, 100)),
        st.tuples(st.just("run"), st.just("acme")),
        st.tuples(st.just("tick"), st.integers(0, 200)),
        st.tuples(st.just("limit"), st.integers(1, 5), st.integers(1, 8)),
        st.tuples(st.just("toggle"), st.sampled_from(["e", "m"])),
        st.tuples(
            st.just("restore"),
        ),
    ),
    max_size=40,
)


def held_by_tenant(engine: RuleEngine) -> dict[str, int]:
    data = engine.snapshot()["rules"]
    tenants = {rule.rule_id: rule.tenant for rule in engine.rules()}
    out: dict[str, int] = {}
    for rule_id, entry in data.items():
        out[tenants[rule_id]] = out.get(tenants[rule_id], 0) + len(entry["series"])
    return out


@settings(max_examples=150, deadline=None)
@given(steps)
def test_the_counts_always_equal_the_series_held(raw: list[tuple[Any, ...]]) -> None:
    quotas = SeriesQuotas(SeriesLimits(per_rule=3, per_tenant=4))
    engine, clock, active = RuleEngine(quotas=quotas), 0.0, {"e": True, "m": True}
    for rule in RULES:
        engine.upsert_rule(rule)
    for n, step in enumerate(raw):
        clock += 5
        kind = step[0]
        if kind == "error":
            engine.on_events([error(clock, step[2], step[1])])
        elif kind == "cpu":
            engine.on_events([cpu(clock, step[2], step[3], step[1])])
        elif kind == "run":
            engine.on_events([event(clock, {"rule_id": "s"}, "cep.schedule", tenant="acme")])
        elif kind == "tick":
            clock += step[1]
            engine.on_tick(at(clock))
        elif kind == "limit":
            quotas.set("acme", SeriesLimits(per_rule=step[1], per_tenant=step[2]))
        elif kind == "toggle":
            active[step[1]] = not active[step[1]]
            base = next(rule for rule in RULES if rule.rule_id == step[1])
            engine.upsert_rule(base.model_copy(update={"active": active[step[1]], "version": n + 2}), at=at(clock))
        else:
            engine = RuleEngine.restore(json.loads(json.dumps(engine.snapshot())), engine.rules(), quotas=quotas)
        expected = held_by_tenant(engine)
        assert {tenant: engine.series_held(tenant) for tenant in ("acme", "globex")} == {
            tenant: expected.get(tenant, 0) for tenant in ("acme", "globex")
        }
