"""Notification policy routing and route grouping cost per notification, with a policy of ~100 routes.

`python bench/routing_cost.py [--notifications 5000]` builds a tenant's policy as the notifier holds it (parsed by
the stored-policy limits): a root, 10 `team` routes (with `continue` on every other one, so some alerts take two
routes), each with 9 `service` routes, 101 routes in all, one channel per receiver, a mute time interval on some
routes. For a few `group_by` shapes it times, per notification, (1) routing: `policy_targets` (the matched routes,
their receivers' channels and time intervals at now) and (2) grouping: for each matched route the group the alert
joins (`group_ref`: its labels and id) and `join` into that group's state held in memory. The notifier's KV reads
and writes of group states are not in these figures (one read per group per batch, one compare-and-set save).
It prints one line per shape: microseconds per notification for each step and the groups formed.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.common.domain.notify.grouping import GroupState, join
from services.common.domain.routing.match import match
from services.common.domain.routing.policy_delivery import STORED_POLICY_LIMITS, policy_targets
from services.common.domain.routing.policy_document import NotificationPolicy, parse_policy
from services.common.domain.routing.route_groups import group_policy, group_ref

NOW = datetime(2025, 5, 1, 12, tzinfo=UTC)
TEAMS, SERVICES, HOSTS = 10, 9, 200
SHAPES: list[list[str]] = [["alertname"], ["alertname", "host"], ["..."], []]
NIGHTS = {"name": "nights", "time_intervals": [{"times": [{"start_time": "22:00", "end_time": "24:00"}]}]}


def policy(group_by: list[str]) -> NotificationPolicy:
    routes: list[dict[str, Any]] = []
    receivers = [{"name": "default", "channels": ["default-hook"]}]
    for t in range(TEAMS):
        children = []
        for s in range(SERVICES):
            name = f"t{t}-s{s}"
            receivers.append({"name": name, "channels": [f"{name}-hook"]})
            child: dict[str, Any] = {"matchers": [f'service=~"svc{s}|svc{s}-.*"'], "receiver": name}
            if s % 3 == 0:
                child["mute_time_intervals"] = ["nights"]
            children.append(child)
        receivers.append({"name": f"t{t}", "channels": [f"t{t}-hook"]})
        route = {"matchers": [f'team="team{t}"'], "receiver": f"t{t}", "continue": t % 2 == 0, "routes": children}
        routes.append(route)
    raw = {
        "route": {"receiver": "default", "group_by": group_by, "group_wait": "30s", "routes": routes},
        "receivers": receivers,
        "time_intervals": [NIGHTS],
    }
    return parse_policy(raw, STORED_POLICY_LIMITS)


def alerts(count: int) -> list[dict[str, str]]:
    return [
        {
            "alertname": f"a{n % 40}",
            "team": f"team{n % (TEAMS + 2)}",  # two of twelve teams have no route: the root takes them
            "service": f"svc{n % (SERVICES + 1)}",
            "host": f"h{n % HOSTS}",
            "severity": "warning",
        }
        for n in range(count)
    ]


def measure(group_by: list[str], labels: list[dict[str, str]]) -> dict[str, Any]:
    held = policy(group_by)
    root = held.config.route
    start = time.perf_counter()
    for alert in labels:
        policy_targets(held, alert, NOW)
    routed = time.perf_counter() - start
    states: dict[tuple[str, str], GroupState] = {}
    policies = {}
    now = NOW.timestamp()
    start = time.perf_counter()
    for n, alert in enumerate(labels):
        for route in match(root, alert):
            ref = group_ref(route, alert)
            state = states.setdefault((ref.scope, ref.group), GroupState(ref.labels))
            rule = policies.get(route.path) or policies.setdefault(route.path, group_policy(route))
            member = {"transition_id": f"t{n}", "kind": "fired", "fingerprint": f"f{n}", "labels": alert}
            join(state, member, now, rule)
    grouped = time.perf_counter() - start
    return {
        "routing_us": round(routed / len(labels) * 1e6, 1),
        "grouping_us": round(grouped / len(labels) * 1e6, 1),
        "groups": len(states),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notifications", type=int, default=5000)
    args = parser.parse_args()
    labels = alerts(args.notifications)
    for group_by in SHAPES:
        print(f"routing: 101 routes, group_by {group_by}: {measure(group_by, labels)}")


if __name__ == "__main__":
    main()
