"""Muting in the running notifier, against a real nats-server and a real local HTTP receiver: a tenant's silence
mutes its own alerts only, a silence created after an alert fired mutes its next notification, and silences and
inhibition mute the same way after the notifier restarts."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from services.common.ops import run_checks
from services.notifier.stages.muting import MutingSources
from tests.notifier.muting_entries import matcher, put_inhibit_rule, put_silence
from tests.notifier.running import RunningNotifier, running_notifier, tenant, transition, webhook
from tests.support.receiver import receiver

ACTIONS = [{"type": "notify", "channel": "ops-hook"}]
DB_DOWN = {"alertname": "db_down", "severity": "critical", "host": "db-1"}
API_SLOW = {"alertname": "api_slow", "severity": "warning", "host": "db-1"}


def _alert(owner: str, labels: Mapping[str, str], event_id: str, kind: str = "fired") -> Any:
    return transition(owner, kind=kind, labels=dict(labels), event_id=event_id)


def _wait(predicate: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _sources(notifier: RunningNotifier) -> MutingSources:
    assert notifier.service.muting is not None
    return notifier.service.muting


def _silence(notifier: RunningNotifier, owner: str, labels: Mapping[str, str]) -> str:
    """An active silence (an hour either side of now) of `owner` on these labels, once the notifier holds it."""
    now = datetime.now(UTC)
    matchers = [matcher(name, value) for name, value in labels.items()]
    silence_id = notifier.run(
        put_silence(notifier.js, owner, matchers, now - timedelta(hours=1), now + timedelta(hours=1))
    )
    _wait(lambda: any(e.silence.id == silence_id for e in _sources(notifier).silences.of_tenant(owner)))
    return silence_id


def _statuses(notifier: RunningNotifier, owner: str, count: int) -> list[tuple[str, str, str | None]]:
    results = notifier.wait_results(owner, final=count)
    return [(r.event_id, r.status, r.reason if r.status == "suppressed" else None) for r in results]


def test_a_tenants_silence_mutes_its_alert_and_not_another_tenants(notifier: RunningNotifier) -> None:
    a, b = tenant(), tenant()
    assert run_checks_ok(notifier)["muting"] == {"loaded": ["inhibit_rules", "open_alerts", "silences"]}
    silence_id = _silence(notifier, a, {"alertname": "db_down"})
    with receiver() as hook:
        notifier.put_channel(webhook(a, hook.url))
        notifier.put_channel(webhook(b, hook.url))
        notifier.watch(a), notifier.watch(b)
        notifier.publish_alert(_alert(a, DB_DOWN, "ea"), ACTIONS)
        notifier.publish_alert(_alert(b, DB_DOWN, "eb"), ACTIONS)
        assert _statuses(notifier, a, 1) == [("ea", "suppressed", f"silenced by {silence_id}")]
        assert _statuses(notifier, b, 1) == [("eb", "sent", None)]
        time.sleep(0.3)
        assert [r.json()["event_id"] for r in hook.requests] == ["eb"]


def test_a_silence_created_after_an_alert_fired_mutes_its_next_notification(notifier: RunningNotifier) -> None:
    a = tenant()
    with receiver() as hook:
        notifier.put_channel(webhook(a, hook.url))
        notifier.watch(a)
        notifier.publish_alert(_alert(a, DB_DOWN, "e1"), ACTIONS)
        assert _statuses(notifier, a, 1) == [("e1", "sent", None)]
        silence_id = _silence(notifier, a, {"host": "db-1"})
        notifier.publish_alert(_alert(a, DB_DOWN, "e1", kind="updated"), ACTIONS)
        assert _statuses(notifier, a, 2)[1] == ("e1", "suppressed", f"silenced by {silence_id}")
        assert [r.json()["kind"] for r in hook.requests] == ["fired"]


def test_silences_and_inhibition_mute_the_same_way_after_a_restart() -> None:
    a = tenant()
    with receiver() as hook:
        with running_notifier() as first:
            first.run(
                put_inhibit_rule(
                    first.js, a, [matcher("alertname", "db_down")], [matcher("severity", "warning")], ["host"]
                )
            )
            _wait(lambda: len(_sources(first).rules.of_tenant(a)) == 1)
            silence_id = _silence(first, a, {"alertname": "disk_full"})
            first.put_channel(webhook(a, hook.url))
            first.watch(a)
            first.publish_alert(_alert(a, DB_DOWN, "src"), ACTIONS)
            assert _statuses(first, a, 1) == [("src", "sent", None)]
        with running_notifier() as second:  # a new process: its mirrors load the buckets before it consumes
            second.watch(a)
            second.publish_alert(_alert(a, API_SLOW, "t1"), ACTIONS)
            second.publish_alert(_alert(a, {**API_SLOW, "host": "db-2"}, "t2"), ACTIONS)  # another host: not equal
            second.publish_alert(_alert(a, {"alertname": "disk_full"}, "d1"), ACTIONS)
            assert sorted(_statuses(second, a, 3)) == [
                ("d1", "suppressed", f"silenced by {silence_id}"),
                ("t1", "suppressed", "inhibited by src"),
                ("t2", "sent", None),
            ]
            second.publish_alert(_alert(a, DB_DOWN, "src", kind="resolved"), ACTIONS)
            _wait(lambda: "src" not in _sources(second).open_alerts.of_tenant(a))
            second.publish_alert(_alert(a, API_SLOW, "t1", kind="updated"), ACTIONS)
            assert _statuses(second, a, 5)[3:] == [("src", "sent", None), ("t1", "sent", None)]
        bodies = [(r.json()["event_id"], r.json()["kind"]) for r in hook.wait_for(4)]
        assert bodies == [("src", "fired"), ("t2", "fired"), ("src", "resolved"), ("t1", "updated")]


def run_checks_ok(notifier: RunningNotifier) -> dict[str, Any]:
    checks = notifier.run(run_checks(notifier.service.checks()))
    assert all(result.ok for result in checks.values())
    return {name: result.detail for name, result in checks.items()}
