"""The router's rule table: versions in stream order, and older versions kept while replaying behind the bucket."""

from __future__ import annotations

from typing import Any

import pytest

from services.common.domain.events.model import Event
from services.ingest.rule_table import RuleTable
from tests.common.domain.kit import T0, make_rule, metric


def rule(version: int, metric_name: str = "cpu", *, active: bool = True, rule_id: str = "r1") -> Any:
    return make_rule(metric(metric_name), rule_id, version=version, active=active)


def candidates(table: RuleTable, **payload: Any) -> set[str]:
    return table.candidates(Event("e", "default", T0, payload))


# Each step: ("upsert", version, metric, active) | ("delete", version); then the expected held version and
# which payload keys find the rule.
STEPS: list[tuple[list[tuple[Any, ...]], int, dict[str, bool]]] = [
    ([("upsert", 1, "cpu", True)], 1, {"cpu": True, "mem": False}),
    ([("upsert", 1, "cpu", True), ("upsert", 2, "mem", True)], 2, {"cpu": False, "mem": True}),
    ([("upsert", 2, "mem", True), ("upsert", 1, "cpu", True)], 2, {"cpu": False, "mem": True}),  # stale: ignored
    ([("upsert", 1, "cpu", True), ("upsert", 2, "cpu", False)], 2, {"cpu": False}),  # deactivated
    ([("upsert", 1, "cpu", True), ("delete", 2)], 2, {"cpu": False}),
    ([("delete", 2), ("upsert", 1, "cpu", True)], 2, {"cpu": False}),  # an upsert older than the deletion
    ([("upsert", 1, "cpu", True), ("upsert", 1, "cpu", True)], 1, {"cpu": True}),  # a replayed change again
]


@pytest.mark.parametrize(("steps", "held", "found"), STEPS)
def test_changes_apply_in_version_order(steps: list[tuple[Any, ...]], held: int, found: dict[str, bool]) -> None:
    table = RuleTable()
    for step in steps:
        if step[0] == "upsert":
            table.upsert(rule(step[1], step[2], active=step[3]))
        else:
            table.delete("r1", step[1])
    assert table.held("r1") is not None and table.held("r1").version == held  # type: ignore[union-attr]
    for key, expected in found.items():
        assert (candidates(table, **{key: 1}) == {"r1"}) is expected, key


def test_bucket_history_stays_indexed_until_the_router_catches_up() -> None:
    table = RuleTable()
    table.load("r1", [rule(1, "cpu"), rule(2, "mem"), rule(3, "mem", active=False)])
    table.catch_up_to = 100
    assert candidates(table, cpu=1) == {"r1"} and candidates(table, mem=1) == {"r1"}  # old versions: a superset
    table.passed(99)
    assert candidates(table, cpu=1) == {"r1"}
    table.passed(100)
    assert candidates(table, cpu=1) == set() and candidates(table, mem=1) == set()  # only v3 (inactive) now


def test_replaying_the_newest_version_ends_the_older_ones() -> None:
    table = RuleTable()
    table.load("r1", [rule(2, "mem")])
    table.catch_up_to = 100
    assert table.upsert(rule(1, "cpu")) is False  # older than the bucket: kept next to it while replaying
    assert candidates(table, cpu=1) == {"r1"} and candidates(table, mem=1) == {"r1"}
    assert table.upsert(rule(2, "mem")) is True
    assert candidates(table, cpu=1) == set() and candidates(table, mem=1) == {"r1"}


def test_a_deleted_rule_in_the_bucket() -> None:
    table = RuleTable()
    table.load("r1", [rule(1, "cpu"), None])
    table.catch_up_to = 10
    assert table.held("r1").version == 2 and len(table) == 0  # type: ignore[union-attr]
    assert candidates(table, cpu=1) == {"r1"}  # it existed while the router replays
    table.delete("r1", 2)
    assert candidates(table, cpu=1) == set()


def test_rules_of_other_tenants_are_not_candidates() -> None:
    table = RuleTable()
    table.upsert(make_rule(metric("cpu"), "r1", tenant="acme"))
    assert candidates(table, cpu=1) == set()
    assert table.candidates(Event("e", "acme", T0, {"cpu": 1})) == {"r1"}


def test_while_catching_up_an_event_is_placed_under_every_indexed_version() -> None:
    """A version's group_by decides where its series live: the router sends the event to the shards of each."""
    by_host = make_rule(metric("cpu", group_by=["host"]), "r1", version=1)
    by_region = make_rule(metric("cpu", group_by=["region"]), "r1", version=2)
    table = RuleTable()
    table.load("r1", [by_host, by_region])
    table.catch_up_to = 100
    event = Event("e", "default", T0, {"cpu": 1, "host": "h1", "region": "eu"})
    assert [plan.group_by for plan in table.candidate_plans(event)] == [("host",), ("region",)]
    table.passed(100)
    assert [plan.group_by for plan in table.candidate_plans(event)] == [("region",)]


def test_candidates_remembered_by_event_shape_are_forgotten_when_a_rule_changes() -> None:
    table = RuleTable()
    event = Event("e", "default", T0, {"cpu": 1})
    assert table.candidate_plans(event) == []
    table.upsert(rule(1, "cpu"))
    assert [plan.rule.version for plan in table.candidate_plans(event)] == [1]
    table.upsert(rule(2, "cpu"))
    assert [plan.rule.version for plan in table.candidate_plans(Event("f", "default", T0, {"cpu": 9}))] == [2]
    table.delete("r1", 3)
    assert table.candidate_plans(event) == []
    run = Event("s", "default", T0, {"rule_id": "cron"}, "cep.schedule")  # a schedule run: by the rule it names
    table.upsert(make_rule({"trigger_type": "schedule", "trigger_spec": {"cron": "* * * * *"}}, "cron"))
    assert [plan.rule_id for plan in table.candidate_plans(run)] == ["cron"]
    assert table.candidate_plans(Event("t", "default", T0, {"rule_id": "other"}, "cep.schedule")) == []
