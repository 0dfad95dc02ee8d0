"""The muting stage's cost per notification, with N silences, M inhibit rules and K open alerts in one tenant.

`python bench/muting_cost.py [--notifications 2000]` fills the notifier's real mirrors (the silence, inhibit-rule
and open-alert mirrors, fed the entries the gateway and the notifier write) in memory, then times the muting
stage's `decide` on notifications of that tenant, for a few sizes. Silences match on `alertname` and a `host`
regex; inhibit rules have a source `alertname`, the target `severity="warning"` (every notification here is a
target, the costly case) and `equal: [host]`; open alerts are sources of those rules. It prints one line per size:
microseconds per notification, the milliseconds to build the tenant's indexes (once, and again after a change of
its inhibit rules or silences), and how many notifications were silenced and inhibited.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.common.domain.inhibition.source_index import OpenAlert
from services.common.domain.lifecycle.transitions import Transition
from services.common.messages import codec
from services.common.messages.alerts import Action
from services.common.messages.muting import OpenAlertEntry
from services.notifier.delivery.jobs import jobs_for
from services.notifier.muting.mirrors import InhibitRuleMirror, SilenceMirror
from services.notifier.muting.open_alerts import ClosingMirror, OpenAlerts
from services.notifier.stages.base import Notification, Suppressed
from services.notifier.stages.muting import Muting, MutingSources

TENANT = "bench"
NOW = datetime(2025, 5, 1, 12, tzinfo=UTC)
SIZES = [(0, 0, 0), (100, 10, 100), (1000, 10, 1000), (1000, 100, 1000), (10000, 100, 10000)]
HOSTS = 500


def _sources(silences: int, rules: int, open_alerts: int) -> MutingSources:
    silence_mirror, rule_mirror, open_mirror = SilenceMirror(), InhibitRuleMirror(), ClosingMirror()
    for i in range(silences):
        entry = {
            "silence_id": str(uuid.uuid4()),
            "version": 1,
            "matchers": [
                {"name": "alertname", "type": "=", "value": f"a{i % 50}"},
                {"name": "host", "type": "=~", "value": f"h{i % HOSTS}-.*"},
            ],
            "starts_at": "2025-05-01T11:00:00Z",
            "ends_at": "2025-05-01T13:00:00Z",
            "recurrence": None,
        }
        silence_mirror.apply(f"{TENANT}.{entry['silence_id']}", codec.dumps(entry), deleted=False)
    for j in range(rules):
        rule = {
            "version": 1,
            "source_matchers": [{"name": "alertname", "type": "=", "value": f"src{j}"}],
            "target_matchers": [{"name": "severity", "type": "=", "value": "warning"}],
            "equal": ["host"],
        }
        rule_mirror.apply(f"{TENANT}.r{j}", codec.dumps(rule), deleted=False)
    for k in range(open_alerts):
        labels = {"alertname": f"src{k % max(rules, 1)}", "severity": "critical", "host": f"s{k}"}
        alert = OpenAlertEntry(OpenAlert(f"o{k}", labels), "r")
        open_mirror.apply(f"{TENANT}.o{k}", alert.encode(), deleted=False)
    return MutingSources(silence_mirror, rule_mirror, OpenAlerts(None, open_mirror))  # type: ignore[arg-type]


def _notifications(count: int) -> list[Notification]:
    out = []
    for n in range(count):
        host = f"h{n % HOSTS}-x" if n % 10 == 0 else f"s{n}" if n % 10 == 1 else f"z{n}"
        labels = {"alertname": f"a{n % 50}", "severity": "warning", "host": host}
        alert = _transition(labels, f"n{n}")
        out.append(Notification(alert, jobs_for(alert, [Action(type="notify", channel="c")]), {}))
    return out


def _transition(labels: dict[str, str], event_id: str) -> Transition:
    return Transition(
        transition_id=event_id,
        kind="fired",
        tenant=TENANT,
        rule_id="r1",
        rule_version=1,
        rule_name=labels["alertname"],
        severity="high",
        trigger_type="metric",
        event_id=event_id,
        fingerprint=event_id,
        group_key=f"host={labels['host']}",
        at=NOW,
        started_at=NOW,
        count=1,
        last_seen=NOW,
        payload={},
        value=1,
        explanation=[],
        summary="bench",
        source_event_id=None,
        reason="bench",
        labels=labels,
    )


async def _measure(sizes: tuple[int, int, int], notifications: list[Notification]) -> dict[str, float]:
    sources = _sources(*sizes)
    now = NOW.timestamp()
    start = time.perf_counter()
    sources.index(TENANT), sources.silence_index(TENANT)  # built once, then kept until the tenant's rules change
    built = time.perf_counter() - start
    stage = Muting(sources)
    start = time.perf_counter()
    verdicts = [await stage.decide(n, now) for n in notifications]
    elapsed = time.perf_counter() - start
    muted = [v for v in verdicts if isinstance(v, Suppressed)]
    return {
        "us_per_notification": round(elapsed / len(notifications) * 1e6, 1),
        "index_build_ms": round(built * 1e3, 1),
        "silenced": sum(v.reason.startswith("silenced") for v in muted),
        "inhibited": sum(v.reason.startswith("inhibited") for v in muted),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notifications", type=int, default=2000)
    args = parser.parse_args()
    notifications = _notifications(args.notifications)
    for silences, rules, open_alerts in SIZES:
        figure = asyncio.run(_measure((silences, rules, open_alerts), notifications))
        print(f"muting: {silences} silences, {rules} inhibit rules, {open_alerts} open alerts: {figure}")


if __name__ == "__main__":
    main()
