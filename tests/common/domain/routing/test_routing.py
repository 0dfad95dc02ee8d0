"""The routing tree: inheritance and defaults, depth-first matching with `continue`, grouping, the tester, timing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.common.domain.routing.match import group_labels, match, routes_for
from services.common.domain.routing.prometheus_durations import format_duration, parse_duration
from services.common.domain.routing.timing import check_interval_names, time_muted
from services.common.domain.routing.tree import RouteError, build_tree
from services.common.domain.time_intervals.model import parse_time_interval

CONFIG: dict[str, Any] = {
    "receiver": "default",
    "group_by": ["alertname"],
    "routes": [
        {
            "matchers": ['team="db"'],
            "receiver": "db",
            "group_wait": "10s",
            "routes": [
                {"match": {"severity": "critical"}, "receiver": "db-pager", "continue": True, "group_by": ["..."]},
                {"match_re": {"severity": "critical|warning"}, "repeat_interval": "1h", "mute_time_intervals": ["n"]},
            ],
        },
        {"matchers": ['team=~"web|api"'], "receiver": "web", "continue": True, "group_by": []},
        {"matchers": ["env!=prod"], "receiver": "staging"},
    ],
}
ROOT = build_tree(CONFIG)


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        ({"team": "db", "severity": "critical", "env": "prod"}, ["db-pager", "db"]),
        ({"team": "db", "severity": "info", "env": "prod"}, ["db"]),  # no child matches: the route itself
        ({"team": "web", "env": "prod"}, ["web"]),  # continue, but nothing after it matches
        ({"team": "api"}, ["web", "staging"]),  # continue to the next sibling; env is missing, so != prod
        ({"team": "ops", "env": "prod"}, ["default"]),
    ],
)
def test_receivers(labels: dict[str, str], receivers: list[str]) -> None:
    assert [route.receiver for route in match(ROOT, labels)] == receivers
    assert routes_for(ROOT, labels).line == ",".join(receivers)


def test_inheritance_and_defaults() -> None:
    db = ROOT.routes[0]
    pager, second = db.routes
    assert (ROOT.group_wait, ROOT.group_interval, ROOT.repeat_interval) == (
        timedelta(seconds=30),
        timedelta(minutes=5),
        timedelta(hours=4),
    )
    assert (db.group_by, db.group_wait, db.group_interval) == (
        ("alertname",),
        timedelta(seconds=10),
        timedelta(minutes=5),
    )
    assert pager.group_by_all and pager.group_wait == timedelta(seconds=10)
    assert second.receiver == "db" and second.repeat_interval == timedelta(hours=1)
    assert second.mute_time_intervals == ("n",) and pager.mute_time_intervals == ()  # not inherited
    assert ROOT.routes[1].group_by == ("alertname",) and not ROOT.routes[1].group_by_all  # `[]`: inherited (AM)
    assert second.path == (0, 1)


def test_tester_gives_receivers_grouping_and_timings() -> None:
    result = routes_for(ROOT, {"team": "db", "severity": "critical", "alertname": "Disk"})
    pager, db = result.routes
    assert pager.group_by == ("...",) and pager.group_labels == {
        "team": "db",
        "severity": "critical",
        "alertname": "Disk",
    }
    assert (pager.group_wait, pager.group_interval, pager.repeat_interval) == ("10s", "5m", "4h")
    assert (db.receiver, db.group_labels, db.repeat_interval, db.mute_time_intervals) == (
        "db",
        {"alertname": "Disk"},
        "1h",
        ("n",),
    )


def test_a_repeated_wildcard_is_still_the_wildcard() -> None:
    assert build_tree({"receiver": "r", "group_by": ["...", "..."]}).group_by_all  # as Alertmanager reads it


def test_group_labels_skip_missing_names() -> None:
    assert group_labels(ROOT, {"team": "x"}) == {}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({}, "default receiver"),
        ({"receiver": "r", "matchers": ["a=b"]}, "must not have any matchers"),
        ({"receiver": "r", "mute_time_intervals": ["n"]}, "time intervals"),
        ({"receiver": "r", "continue": True}, "continue"),
        ({"receiver": "r", "group_by": ["...", "a"]}, "wildcard"),
        ({"receiver": "r", "group_by": ["a", "a"]}, "duplicated"),
        ({"receiver": "r", "group_by": ["9x"]}, "invalid label name"),
        ({"receiver": "r", "group_wait": "5 minutes"}, "group_wait"),
        ({"receiver": "r", "routes": [{"group_interval": "0s"}]}, "group_interval cannot be zero"),
        ({"receiver": "r", "routes": [{"matchers": ["a=~("]}]}, "a=~("),
    ],
)
def test_refusals(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        build_tree(raw)


@pytest.mark.parametrize(
    ("text", "seconds", "printed"),
    [("0", 0, "0s"), ("30s", 30, "30s"), ("1h30m", 5400, "1h30m"), ("1d", 86400, "1d"), ("1w2d", 777600, "1w2d")],
)
def test_durations(text: str, seconds: float, printed: str) -> None:
    assert parse_duration(text).total_seconds() == seconds
    assert format_duration(parse_duration(text)) == printed


@pytest.mark.parametrize("text", ["", "5", "1m1h", "1.5h", "-1m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


NIGHT = [parse_time_interval({"times": [{"start_time": "00:00", "end_time": "06:00"}]})]
OFFICE = [parse_time_interval({"weekdays": ["monday:friday"]})]


def test_mute_and_active_time_intervals() -> None:
    tree = build_tree(
        {
            "receiver": "r",
            "routes": [
                {"receiver": "quiet", "mute_time_intervals": ["night"]},
                {"receiver": "office", "active_time_intervals": ["office"]},
            ],
        }
    )
    quiet, office = tree.routes
    intervals = {"night": NIGHT, "office": OFFICE}
    monday_3am = datetime(2024, 5, 6, 3, 0, tzinfo=UTC)
    sunday_noon = datetime(2024, 5, 5, 12, 0, tzinfo=UTC)
    muted = time_muted(quiet, intervals, monday_3am)
    assert muted is not None and muted.interval == "night"
    assert time_muted(quiet, intervals, sunday_noon) is None
    assert time_muted(office, intervals, monday_3am) is None
    outside = time_muted(office, intervals, sunday_noon)
    assert outside is not None and outside.reason == "outside every active time interval"
    check_interval_names(tree, intervals)
    with pytest.raises(RouteError, match="office"):
        check_interval_names(tree, {"night": NIGHT})
