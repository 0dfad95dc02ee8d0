"""A policy route's aggregation groups, pure, on a fake clock: which group an alert joins (`group_by`, `...`, none),
Alertmanager's route key, and the timings: the first notification after `group_wait`, a changed group at most every
`group_interval` with its whole alert set, an unchanged one again after `repeat_interval`, resolved alerts sent
once and then gone from the group."""

from __future__ import annotations

from functools import cmp_to_key
from typing import Any

import pytest

from services.common.domain.notify.grouping import GroupState, flush, join, repeat
from services.common.domain.routing.route_groups import (
    alert_group,
    group_policy,
    groups_of,
    label_set_before,
    label_set_text,
    route_at,
    route_key,
    route_scope,
    scope_path,
)
from services.common.domain.routing.tree import build_tree

TREE = build_tree(
    {
        "receiver": "ops",
        "group_by": ["alertname"],
        "group_wait": "10s",
        "group_interval": "1m",
        "repeat_interval": "1h",
        "routes": [
            {"matchers": ['team="db"', 'env=~"prod|stage"'], "receiver": "db", "group_by": ["..."]},
            {"matchers": ['team="web"'], "receiver": "web", "group_by": [], "routes": [{"matchers": ['sev="1"']}]},
        ],
    }
)
POLICY = group_policy(TREE)
T0 = 1_000_000.0
_ids = iter(range(1_000_000))


def _alert(name: str, kind: str = "fired") -> dict[str, Any]:
    return {"transition_id": f"t{next(_ids)}", "kind": kind, "fingerprint": name, "labels": {"alertname": name}}


def _names(members: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(m["fingerprint"], m["kind"]) for m in members]


@pytest.mark.parametrize(
    ("path", "labels", "expected"),
    [
        ((), {"alertname": "a", "host": "h"}, {"alertname": "a"}),
        ((), {"host": "h"}, {}),  # a group_by label the alert lacks is not in its group labels
        ((0,), {"alertname": "a", "team": "db", "env": "prod"}, {"alertname": "a", "team": "db", "env": "prod"}),
        ((1,), {"alertname": "a", "team": "web"}, {"alertname": "a"}),  # group_by []: the parent's, as in AM
        ((1, 0), {"alertname": "a", "team": "web", "sev": "1"}, {"alertname": "a"}),  # inherited
    ],
)
def test_the_group_an_alert_joins(path: tuple[int, ...], labels: dict[str, str], expected: dict[str, str]) -> None:
    route = route_at(TREE, path)
    assert route is not None
    assert alert_group(route, labels) == expected


def test_route_keys_and_scopes_name_the_route() -> None:
    assert route_key(TREE, ()) == "{}"
    assert route_key(TREE, (0,)) == '{}/{env=~"prod|stage",team="db"}'  # matchers sorted, as Alertmanager's
    assert route_key(TREE, (1, 0)) == '{}/{team="web"}/{sev="1"}'
    assert [route_scope(p) for p in ((), (1, 0))] == ["policy-root", "policy-1-0"]
    assert [scope_path(s) for s in ("policy-root", "policy-1-0", "r1234", "policy-x")] == [(), (1, 0), None, None]
    assert route_at(TREE, (5,)) is None
    assert label_set_text({"host": 'a"b', "alertname": "x"}) == '{alertname="x", host="a\\"b"}'


def test_the_routes_timings_are_the_groups() -> None:
    assert (POLICY.wait, POLICY.interval, POLICY.repeat, POLICY.whole) == (10.0, 60.0, 3600.0, True)


def test_a_new_group_waits_group_wait_and_a_burst_goes_out_together() -> None:
    state = GroupState("alertname=x")
    assert join(state, _alert("a"), T0, POLICY) == T0 + 10
    assert join(state, _alert("b"), T0 + 3, POLICY) is None  # the timer is set: it waits with the first
    members, dropped, next_repeat = flush(state, T0 + 10, POLICY)
    assert (_names(members), dropped, next_repeat) == ([("a", "fired"), ("b", "fired")], 0, T0 + 10 + 3600)


def test_a_change_notifies_the_whole_set_at_most_every_group_interval() -> None:
    state = GroupState("")
    join(state, _alert("a"), T0, POLICY)
    flush(state, T0 + 10, POLICY)
    assert join(state, _alert("b"), T0 + 20, POLICY) == T0 + 10 + 60  # not before group_interval since the last
    members, _, _ = flush(state, T0 + 70, POLICY)
    assert _names(members) == [("a", "fired"), ("b", "fired")]  # the group's alerts, not only what changed
    assert join(state, _alert("c"), T0 + 500, POLICY) == T0 + 500  # long after: at once


def test_a_resolved_alert_is_sent_once_then_leaves_the_group() -> None:
    state = GroupState("")
    join(state, _alert("a"), T0, POLICY)
    join(state, _alert("b"), T0, POLICY)
    flush(state, T0 + 10, POLICY)
    join(state, _alert("a", "resolved"), T0 + 100, POLICY)
    members, _, next_repeat = flush(state, T0 + 100, POLICY)
    assert _names(members) == [("b", "fired"), ("a", "resolved")]
    assert next_repeat == T0 + 100 + 3600
    again, after = repeat(state, state.flushes, T0 + 3700, POLICY)
    assert (_names(again), after) == ([("b", "fired")], T0 + 3700 + 3600)  # a is gone
    join(state, _alert("b", "resolved"), T0 + 4000, POLICY)
    members, _, next_repeat = flush(state, T0 + 4000, POLICY)
    assert (_names(members), next_repeat) == ([("b", "resolved")], None)  # nothing firing: no more repeats


def test_an_unchanged_group_repeats_after_repeat_interval_and_a_stale_timer_does_nothing() -> None:
    state = GroupState("")
    join(state, _alert("a"), T0, POLICY)
    _, _, due = flush(state, T0 + 10, POLICY)
    assert flush(state, T0 + 70, POLICY) == ([], 0, None)  # nothing changed: no notification
    number = state.flushes
    join(state, _alert("b"), T0 + 80, POLICY)
    flush(state, T0 + 80, POLICY)  # a later notification supersedes the repeat set before it
    assert repeat(state, number, T0 + 10 + 3600, POLICY) == ([], None)
    members, _ = repeat(state, state.flushes, T0 + 80 + 3600, POLICY)
    assert _names(members) == [("a", "fired"), ("b", "fired")]
    assert due == T0 + 10 + 3600


def test_route_keys_write_match_re_anchored_and_sort_by_value_before_operator() -> None:
    tree = build_tree(
        {
            "receiver": "r",
            "routes": [{"match": {"zone": "eu"}, "match_re": {"az": "1.*"}, "matchers": ['a!="y"', "a=~x.*"]}],
        }
    )
    assert route_key(tree, (0,)) == '{}/{a=~"x.*",a!="y",az=~"^(?:1.*)$",zone="eu"}'


def test_groups_sort_as_alertmanager_sorts_label_sets() -> None:
    # fewer labels first; then the set that lacks the first name the other has; then the smaller first value
    ordered = [{}, {"b": "1"}, {"a": "2"}, {"a": "1", "c": "0"}, {"a": "1", "b": "1"}, {"a": "2", "b": "0"}]
    shuffled = [ordered[i] for i in (5, 2, 0, 4, 1, 3)]
    assert sorted(shuffled, key=cmp_to_key(label_set_before)) == ordered


def test_an_alert_is_in_one_group_per_matched_route_where_its_ack_must_reach() -> None:
    tree = build_tree(
        {
            "receiver": "ops",
            "group_by": ["alertname"],
            "routes": [{"matchers": ['team="db"'], "receiver": "db", "continue": True}, {"receiver": "all"}],
        }
    )
    refs = groups_of(tree, {"alertname": "Down", "team": "db"})
    assert [(ref.scope, ref.labels, ref.group_labels) for ref in refs] == [
        ("policy-0", "alertname=Down", {"alertname": "Down"}),
        ("policy-1", "alertname=Down", {"alertname": "Down"}),
    ]
    assert refs[0].group == refs[1].group  # same labels: kept apart by the scope
    assert groups_of(tree, {"alertname": 'Do"wn'})[0].group != refs[0].group
