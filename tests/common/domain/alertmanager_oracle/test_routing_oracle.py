"""Routing against amtool and the real Alertmanager 0.25 (differential): generated trees, generated label sets.

For each generated routing tree, `amtool config routes test` must print the receivers our route tester lists,
in the same order; and with the tree loaded into the real Alertmanager, the alert groups it forms (receiver,
group labels, member alerts) must be the groups our matching and `group_by` (inherited, `...`) predict.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from services.common.domain.labels.label_set import fingerprint, normalize
from services.common.domain.labels.matchers import escape
from services.common.domain.routing.match import group_labels, match, routes_for
from services.common.domain.routing.tree import build_tree
from tests.common.domain.alertmanager_oracle.generate import config, label_set, route_tree
from tests.support.alertmanager import Alertmanager, routes_test

TREE_CASES = 12
LABEL_CASES = 25
GROUP_TREES = 5
GROUP_ALERTS = 40

Group = tuple[str, frozenset[tuple[str, str]], frozenset[str]]


def test_receivers_agree_with_amtool(oracle_binaries: None, tmp_path: Path) -> None:
    rng = random.Random(2024)
    multiple = 0
    for tree in range(TREE_CASES):
        route, receivers = route_tree(rng)
        path = tmp_path / f"tree-{tree}.yml"
        path.write_text(yaml.safe_dump(config(route, receivers, []), sort_keys=False))
        root = build_tree(route)
        for _ in range(LABEL_CASES):
            labels = label_set(rng)
            arguments = [f'{name}="{escape(value)}"' for name, value in labels.items()]
            ours = routes_for(root, labels)
            assert routes_test(path, arguments) == ours.line, (route, labels)
            multiple += len(ours.receivers) > 1
    assert multiple > 5  # `continue` was exercised


def _expected_groups(root: Any, alerts: list[dict[str, str]]) -> Counter[Group]:
    members: dict[tuple[tuple[int, ...], str, frozenset[tuple[str, str]]], set[str]] = {}
    for labels in alerts:
        for route in match(root, labels):
            key = (route.path, route.receiver, frozenset(group_labels(route, labels).items()))
            members.setdefault(key, set()).add(fingerprint(labels))
    return Counter((receiver, grouped, frozenset(fps)) for (_, receiver, grouped), fps in members.items())


def _groups(alertmanager: Alertmanager, suite: str) -> Counter[Group]:
    found: Counter[Group] = Counter()
    for group in alertmanager.groups(f'suite="{suite}"'):
        members = frozenset(alert["fingerprint"] for alert in group["alerts"])
        found[(group["receiver"]["name"], frozenset(group["labels"].items()), members)] += 1
    return found


def test_groups_agree_with_alertmanager(alertmanager: Alertmanager) -> None:
    rng = random.Random(77)
    for tree in range(GROUP_TREES):
        route, receivers = route_tree(rng)
        alertmanager.reload(config(route, receivers, []))
        suite = f"routing-{tree}"
        alerts = [normalize(label_set(rng, suite=suite, case=str(case))) for case in range(GROUP_ALERTS)]
        alertmanager.post_alerts([{"labels": labels} for labels in alerts])
        expected = _expected_groups(build_tree(route), alerts)
        # The dispatcher groups posted alerts asynchronously: ask again until it has caught up.
        deadline = time.monotonic() + 10
        while _groups(alertmanager, suite) != expected and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _groups(alertmanager, suite) == expected, route
        assert len(expected) > 1
