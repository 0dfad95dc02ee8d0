"""Inhibition against the real Alertmanager 0.25 (differential): generated inhibit rules over generated alerts.

The rules (source and target matchers, `equal` labels) go into the real Alertmanager's configuration, the alerts
(some already resolved) to its v2 API; every open alert's `inhibitedBy` and `status.state` must equal what the
domain decides from the same rules and the open alerts (0.25 names one inhibiting alert: it must be among ours).
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from services.common.domain.inhibition.inhibit_rules import inhibited, parse_inhibit_rule
from services.common.domain.labels.label_set import normalize
from tests.common.domain.alertmanager_oracle.generate import config, inhibit_rule, label_set
from tests.support.alertmanager import Alertmanager, stamp

SUITE = "inhibition"
RULE_CASES = 10
ALERT_CASES = 150
RESOLVED_CASES = 20


def _differences(got: list[dict[str, Any]], expected: dict[str, tuple[str, ...]]) -> list[str]:
    found = {alert["labels"]["case"]: alert for alert in got}
    problems = []
    for case, by in expected.items():
        alert = found.get(case)
        if alert is None:
            problems.append(f"case {case}: missing")
            continue
        # Alertmanager 0.25 stops at the first inhibiting alert it finds and lists only that one (later versions
        # list them all, as we do): it must be one of ours, and inhibited must mean the same on both sides.
        theirs = set(alert["status"]["inhibitedBy"])
        if bool(theirs) != bool(by) or not theirs <= set(by):
            problems.append(f"case {case} {alert['labels']}: Alertmanager {alert['status']['inhibitedBy']}, ours {by}")
        elif alert["status"]["state"] != ("suppressed" if by else "active"):
            problems.append(f"case {case}: state {alert['status']['state']} with inhibitedBy {by}")
    return problems


def test_inhibition_agrees_with_alertmanager(alertmanager: Alertmanager) -> None:
    rng = random.Random(404)
    raw_rules = [inhibit_rule(rng, SUITE) for _ in range(RULE_CASES)]
    alertmanager.reload(config({"receiver": "null"}, ["null"], raw_rules))
    rules = [parse_inhibit_rule(raw) for raw in raw_rules]
    alerts = [label_set(rng, suite=SUITE, case=str(case)) for case in range(ALERT_CASES)]
    resolved = set(rng.sample(range(ALERT_CASES), RESOLVED_CASES))
    now = datetime.now(UTC)
    ended = {"startsAt": stamp(now - timedelta(hours=1)), "endsAt": stamp(now - timedelta(minutes=1))}
    alertmanager.post_alerts(
        [{"labels": labels, **(ended if i in resolved else {})} for i, labels in enumerate(alerts)]
    )
    open_alerts = [normalize(labels) for i, labels in enumerate(alerts) if i not in resolved]
    expected = {labels["case"]: inhibited(labels, rules, open_alerts).by for labels in open_alerts}
    # The inhibitor learns of posted alerts asynchronously: ask again until it has caught up (a few 100 ms).
    deadline = time.monotonic() + 10
    while _differences(alertmanager.alerts(f'suite="{SUITE}"'), expected) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _differences(alertmanager.alerts(f'suite="{SUITE}"'), expected) == []
    muted = sum(bool(by) for by in expected.values())
    assert 10 < muted < len(expected) - 10  # the generated rules inhibit some alerts and spare others
