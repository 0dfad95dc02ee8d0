"""Configuration checks against `amtool check-config` 0.25 (differential): routes, receivers, time intervals.

Generated configurations, most with one deliberate fault (a bad time interval field, a root route with matchers,
a wildcard `group_by` beside other labels, a zero interval, an undefined receiver or time interval, ...), are
checked by amtool and loaded by the domain: both must accept the same ones and refuse the same ones.
"""

from __future__ import annotations

import random
import subprocess
from pathlib import Path
from typing import Any

import yaml

from services.common.domain.routing.config import load_config
from tests.common.domain.alertmanager_oracle.generate import route_tree
from tests.support.alertmanager import AMTOOL

CONFIG_CASES = 120
FIELDS: dict[str, list[Any]] = {
    "times": [
        {"start_time": "09:00", "end_time": "17:00"},
        {"start_time": "00:00", "end_time": "24:00"},
        {"start_time": "23:59", "end_time": "24:00"},
        {"start_time": "24:00", "end_time": "24:00"},
        {"start_time": "9:00", "end_time": "10:00"},
        {"start_time": "10:00", "end_time": "09:00"},
        {"start_time": "10:60", "end_time": "11:00"},
        {"start_time": "12:00"},
    ],
    "weekdays": ["monday", "Monday:FRIDAY", "saturday", "sunday:saturday", "saturday:sunday", "funday", "1", ""],
    "days_of_month": ["1", "1:31", "-1", "-7:-1", "0", "32", "-32", "-3:5", "10:-25", "10:-5", " 5", "+5", "5:"],
    "months": ["january", "1:3", "March:january", "13", "0", "dec", "December", "may:12", "2:1"],
    "years": ["2024", "2024:2030", "2030:2024", "-1", "0", "1:2:3"],
    "location": ["UTC", "Europe/Berlin", "America/New_York", "Mars/Olympus", ""],
}
FAULTS = [
    lambda raw, rng: raw["route"].update(matchers=['a="x"']),
    lambda raw, rng: raw["route"].update(mute_time_intervals=["night"]),
    lambda raw, rng: raw["route"].update(active_time_intervals=["night"]),
    lambda raw, rng: raw["route"].update(receiver="nobody"),
    lambda raw, rng: raw["route"].pop("receiver"),
    lambda raw, rng: raw["route"].update(group_by=rng.choice([["...", "a"], ["a", "a"], ["9x"], ["...", "..."]])),
    lambda raw, rng: raw["route"].update(group_interval=rng.choice(["0s", "0", "5 minutes", "1.5h", "1h30m"])),
    lambda raw, rng: raw["route"].update(repeat_interval=rng.choice(["0s", "2d", "1m1h"])),
    lambda raw, rng: raw["route"]["routes"][0].update(mute_time_intervals=["nowhere"]),
    lambda raw, rng: raw["route"]["routes"][0].update(active_time_intervals=["night"]),
    lambda raw, rng: raw["route"]["routes"][0].update(receiver="nobody"),
    lambda raw, rng: raw["route"]["routes"][0].update(matchers=['a="x']),
    lambda raw, rng: raw["receivers"].append({"name": "root"}),
    lambda raw, rng: raw["time_intervals"].append({"name": "night", "time_intervals": []}),
]


def _interval(rng: random.Random) -> dict[str, Any]:
    chosen = rng.sample(sorted(FIELDS), rng.randint(1, 3))
    raw = {field: [rng.choice(FIELDS[field])] for field in chosen if field != "location"}
    if "location" in chosen:
        raw["location"] = rng.choice(FIELDS["location"])
    return raw


def _configuration(rng: random.Random) -> dict[str, Any]:
    route, receivers = route_tree(rng)
    route.setdefault("routes", [{"receiver": "root"}])
    raw: dict[str, Any] = {
        "route": route,
        "receivers": [{"name": name} for name in receivers],
        "time_intervals": [{"name": "night", "time_intervals": [_interval(rng)]}],
    }
    if rng.random() < 0.5:
        rng.choice(FAULTS)(raw, rng)
    return raw


def _amtool_accepts(path: Path) -> bool:
    done = subprocess.run([AMTOOL, "check-config", str(path)], capture_output=True, text=True, timeout=30, check=False)
    return done.returncode == 0


def _ours(raw: dict[str, Any]) -> str | None:
    try:
        load_config(raw)
    except ValueError as exc:
        return str(exc)
    return None


def test_configurations_are_refused_as_amtool_refuses_them(oracle_binaries: None, tmp_path: Path) -> None:
    rng = random.Random(31)
    refused = 0
    for case in range(CONFIG_CASES):
        raw = _configuration(rng)
        path = tmp_path / f"config-{case}.yml"
        path.write_text(yaml.safe_dump(raw, sort_keys=False))
        ours = _ours(raw)
        assert _amtool_accepts(path) == (ours is None), (ours, path.read_text())
        refused += ours is not None
    assert 20 < refused < CONFIG_CASES - 20
