"""Which channels a policy adds to an alert: tree order, explicit actions win, a channel two routes name is sent once
(by a route its time intervals do not hold back), and a muted route names its interval (literal UTC times)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.common.domain.routing.policy_delivery import (
    STORED_POLICY_LIMITS,
    PolicyTarget,
    mute_reason,
    policy_targets,
    route_name,
)
from services.common.domain.routing.policy_document import parse_policy

SATURDAY = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
MONDAY = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
WEEKENDS = {"name": "weekends", "time_intervals": [{"weekdays": ["saturday", "sunday"]}]}
POLICY: dict[str, Any] = {
    "route": {
        "receiver": "ops",
        "routes": [
            {"matchers": ['team="db"'], "receiver": "db", "continue": True, "mute_time_intervals": ["weekends"]},
            {"matchers": ['team=~"db|web"'], "receiver": "web"},
            {"matchers": ['severity="page"'], "receiver": "pager", "active_time_intervals": ["weekends"]},
        ],
    },
    "receivers": [
        {"name": "ops", "channels": ["slack-ops"]},
        {"name": "db", "channels": ["db-hook", "shared"]},
        {"name": "web", "channels": ["shared", "web-hook"]},
        {"name": "pager", "channels": []},
    ],
    "time_intervals": [WEEKENDS],
}
MUTED = "muted by the notification policy: route 0 is inside a mute time interval 'weekends'"


def _targets(labels: dict[str, str], at: datetime, explicit: tuple[str, ...] = ()) -> list[PolicyTarget]:
    return policy_targets(parse_policy(POLICY, STORED_POLICY_LIMITS), labels, at, explicit)


@pytest.mark.parametrize(
    ("labels", "at", "explicit", "expected"),
    [
        ({"team": "ops"}, MONDAY, (), [PolicyTarget("slack-ops", "policy:root", "ops")]),
        (
            {"team": "db"},
            MONDAY,
            (),
            [
                PolicyTarget("db-hook", "policy:0", "db"),
                PolicyTarget("shared", "policy:0", "db"),
                PolicyTarget("web-hook", "policy:1", "web"),
            ],
        ),
        (  # route 0 is muted on Saturdays: `shared` goes out by route 1, which also names it
            {"team": "db"},
            SATURDAY,
            (),
            [
                PolicyTarget("db-hook", "policy:0", "db", MUTED),
                PolicyTarget("shared", "policy:1", "web"),
                PolicyTarget("web-hook", "policy:1", "web"),
            ],
        ),
        (  # the rule's own actions name these channels: they send them, not the policy
            {"team": "db"},
            MONDAY,
            ("shared", "db-hook"),
            [PolicyTarget("web-hook", "policy:1", "web")],
        ),
        ({"severity": "page"}, MONDAY, (), []),  # the null receiver
        ({"team": "", "x": "y"}, MONDAY, (), [PolicyTarget("slack-ops", "policy:root", "ops")]),  # empty: absent
    ],
)
def test_policy_targets(
    labels: dict[str, str], at: datetime, explicit: tuple[str, ...], expected: list[PolicyTarget]
) -> None:
    assert _targets(labels, at, explicit) == expected


def test_a_route_outside_its_active_intervals_is_muted_with_that_reason() -> None:
    policy = {**POLICY, "receivers": [*POLICY["receivers"][:3], {"name": "pager", "channels": ["pd"]}]}
    on_monday = policy_targets(parse_policy(policy, STORED_POLICY_LIMITS), {"severity": "page"}, MONDAY)
    on_saturday = policy_targets(parse_policy(policy, STORED_POLICY_LIMITS), {"severity": "page"}, SATURDAY)
    reason = "muted by the notification policy: route 2 is outside every active time interval"
    assert on_monday == [PolicyTarget("pd", "policy:2", "pager", reason)]
    assert on_saturday == [PolicyTarget("pd", "policy:2", "pager")]


@pytest.mark.parametrize(("path", "name"), [((), "root"), ((0,), "0"), ((1, 0, 2), "1.0.2")])
def test_route_name(path: tuple[int, ...], name: str) -> None:
    assert route_name(path) == name


def test_a_group_that_joined_unmuted_is_judged_again_when_it_sends() -> None:
    """On a fake clock: an alert joins the db route's group on Friday evening (sent), its group flushes after the
    weekend began (held back, with the reason the notifier records), and a flush on Monday sends again."""
    policy = parse_policy(POLICY, STORED_POLICY_LIMITS)
    route = policy.config.route.routes[0]
    friday_evening = datetime(2026, 12, 4, 23, 59, 50, tzinfo=UTC)
    joined = policy_targets(policy, {"team": "db"}, friday_evening)
    assert [t.muted for t in joined if t.via == "policy:0"] == [None, None]
    flush = friday_evening + timedelta(seconds=30)  # group_wait later: Saturday
    assert mute_reason(route, policy.config.time_intervals, flush) == MUTED
    assert mute_reason(route, policy.config.time_intervals, MONDAY) is None
    pager = policy.config.route.routes[2]  # active only at weekends: held back outside them
    assert mute_reason(pager, policy.config.time_intervals, SATURDAY) is None
    assert mute_reason(pager, policy.config.time_intervals, MONDAY) == (
        "muted by the notification policy: route 2 is outside every active time interval"
    )
