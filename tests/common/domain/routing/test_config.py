"""A whole notification-policy configuration: references between routes, receivers and time intervals."""

from __future__ import annotations

from typing import Any

import pytest

from services.common.domain.routing.config import load_config

BASE: dict[str, Any] = {
    "route": {"receiver": "ops", "routes": [{"matchers": ["team=db"], "receiver": "db", "mute_time_intervals": ["n"]}]},
    "receivers": [{"name": "ops"}, {"name": "db"}],
    "time_intervals": [{"name": "n", "time_intervals": [{"times": [{"start_time": "00:00", "end_time": "06:00"}]}]}],
    "inhibit_rules": [{"source_matchers": ["severity=critical"], "target_matchers": ["severity=warning"]}],
}


def test_load_reads_every_part() -> None:
    loaded = load_config(BASE)
    assert loaded.receivers == ("ops", "db")
    assert loaded.route.routes[0].receiver == "db"
    assert list(loaded.time_intervals) == ["n"] and len(loaded.time_intervals["n"]) == 1
    assert len(loaded.inhibit_rules) == 1


def test_older_mute_time_intervals_count_as_time_intervals() -> None:
    raw = {**BASE, "mute_time_intervals": BASE["time_intervals"], "time_intervals": []}
    assert list(load_config(raw).time_intervals) == ["n"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"route": None}, "no route"),
        ({"receivers": [{"name": "ops"}]}, "undefined receiver 'db'"),
        ({"receivers": [{"name": "ops"}, {"name": "db"}, {"name": "ops"}]}, "receiver 'ops' is not unique"),
        ({"receivers": [{"name": "ops"}, {"name": "db"}, {}]}, "missing name"),
        ({"time_intervals": []}, "undefined time interval 'n'"),
        ({"time_intervals": BASE["time_intervals"] * 2}, "time interval 'n' is not unique"),
        ({"time_intervals": [{"name": "n", "time_intervals": [{"weekdays": ["funday"]}]}]}, "funday"),
    ],
)
def test_refusals(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_config({**BASE, **change})
