"""Notification policy groups against the real Alertmanager 0.25 (differential): generated trees and alerts.

For each generated routing tree (group_by on a few names, `...`, empty; nested routes, `continue`), the real
Alertmanager gets the tree as its configuration and the generated alerts over its API; the gateway's
`GET /api/v2/alerts/groups` forms its groups with `policy_alert_groups` from the same tree and alerts. Both must
list the same groups (receiver, group labels, member fingerprints) in the same order. And the webhook `groupKey` of
a nested route with matchers (Alertmanager's route key: each route's matchers sorted and quoted, from the root)
must be the one our notifier writes (`route_key`).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from services.common.domain.labels.label_set import fingerprint, normalize
from services.common.domain.notify.alertmanager_webhook import group_key
from services.common.domain.routing.route_groups import alert_group, route_key
from services.common.domain.routing.tree import build_tree
from services.gateway.schemas.alertmanager_v2 import policy_alert_groups
from tests.common.domain.alertmanager_oracle.conftest import PLAIN
from tests.common.domain.alertmanager_oracle.generate import config, label_set, route_tree
from tests.support.alertmanager import Alertmanager, stamp
from tests.support.http_sink import Sink, http_sink

pytestmark = pytest.mark.slow

TREES = 6
ALERTS = 30

Group = tuple[str, dict[str, str], tuple[str, ...]]


def _theirs(alertmanager: Alertmanager, suite: str) -> list[Group]:
    return [
        (group["receiver"]["name"], group["labels"], tuple(sorted(alert["fingerprint"] for alert in group["alerts"])))
        for group in alertmanager.groups(f'suite="{suite}"')
    ]


def _ours(route: dict[str, Any], alerts: list[dict[str, str]]) -> list[Group]:
    gettable = [{"labels": labels, "fingerprint": fingerprint(labels)} for labels in alerts]
    return [
        (group["receiver"]["name"], group["labels"], tuple(sorted(alert["fingerprint"] for alert in group["alerts"])))
        for group in policy_alert_groups(gettable, build_tree(route))
    ]


def _sortable(group: Group) -> tuple[str, list[tuple[str, str]], tuple[str, ...]]:
    return group[0], sorted(group[1].items()), group[2]


def _settled(alertmanager: Alertmanager, suite: str, expected: list[Group]) -> list[Group]:
    """Alertmanager's groups once its dispatcher has taken every posted alert (it groups asynchronously)."""
    wanted = sum(len(members) for _, _, members in expected)
    deadline = time.monotonic() + 10
    found = _theirs(alertmanager, suite)
    while sum(len(members) for _, _, members in found) < wanted and time.monotonic() < deadline:
        time.sleep(0.2)
        found = _theirs(alertmanager, suite)
    return found


def test_policy_groups_are_the_groups_alertmanager_forms(alertmanager: Alertmanager) -> None:
    rng = random.Random(1717)
    several = 0
    for tree in range(TREES):
        route, receivers = route_tree(rng)
        alertmanager.reload(config(route, receivers, []))
        suite = f"route-groups-{tree}"
        # `suite` is every alert's label, so `...` groups and the order of groups see it too
        alerts = [normalize(label_set(rng, suite=suite, case=str(case % 20))) for case in range(ALERTS)]
        alertmanager.post_alerts([{"labels": labels} for labels in alerts])
        unique = list({fingerprint(labels): labels for labels in alerts}.values())
        ours = _ours(route, unique)
        theirs = _settled(alertmanager, suite, ours)
        assert sorted(map(_sortable, theirs)) == sorted(map(_sortable, ours)), route
        # Alertmanager sorts groups by their labels (fewer labels first), then by receiver; groups equal on both
        # (two routes of one receiver) may come in either order.
        assert [(r, labels) for r, labels, _ in theirs] == [(r, labels) for r, labels, _ in ours], route
        several += len(ours) > 1
    assert several > TREES // 2


NESTED = {
    "receiver": "null",
    "group_by": [],
    "routes": [
        {
            "matchers": ['team="d\\"b"', "a=~x.*", 'a!="y"', "env!~prod|stage", 'b="line\\nfeed"'],
            "match": {"zone": "eu"},
            "match_re": {"team": "d.*", "az": "1.*"},
            "continue": True,
            "routes": [
                {
                    "matchers": ['env="dev"', "suite=route-key"],
                    "receiver": "hook",
                    "group_by": ["alertname", "env"],
                    "group_wait": "1s",
                    "group_interval": "1s",
                }
            ],
        }
    ],
}
NESTED_LABELS = {
    "alertname": "route_key",  # its own alertname: other suites pick their webhook bodies by alertname
    "team": 'd"b',
    "a": "xz",
    "env": "dev",
    "b": "line\nfeed",
    "zone": "eu",
    "az": "1a",
    "suite": "route-key",
}


@pytest.fixture
def hooked(alertmanager: Alertmanager) -> Iterator[Sink]:
    """Alertmanager with the nested tree, its `hook` receiver a webhook to a real local server."""
    with http_sink() as sink:
        receivers = [{"name": "null"}, {"name": "hook", "webhook_configs": [{"url": f"{sink.url}/am"}]}]
        alertmanager.reload({"route": NESTED, "receivers": receivers, "inhibit_rules": []})
        try:
            yield sink
        finally:
            alertmanager.post_alerts([{"labels": NESTED_LABELS, "endsAt": stamp(datetime.now(UTC))}])  # resolved
            alertmanager.reload(PLAIN)


def test_a_nested_routes_group_key_is_alertmanagers(alertmanager: Alertmanager, hooked: Sink) -> None:
    alertmanager.post_alerts([{"labels": NESTED_LABELS}])
    body: dict[str, Any] = json.loads(hooked.wait_for(1, timeout=20)[0].body)

    root = build_tree(NESTED)
    path = (0, 0)
    leaf = root.routes[0].routes[0]
    ours = group_key(alert_group(leaf, NESTED_LABELS), route_key(root, path))
    assert body["groupKey"] == ours
    assert body["groupLabels"] == alert_group(leaf, NESTED_LABELS)
