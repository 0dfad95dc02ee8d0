"""Muting in the running notifier, against a real nats-server and a real local HTTP receiver: a tenant's silence
mutes its own alerts only, a silence created after an alert fired mutes its next notification, and silences and
inhibition mute the same way after the notifier restarts."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from services.common.domain.notify.grouping import group_id
from services.common.nats import subjects
from services.common.ops import run_checks
from services.notifier.app import NotifierService
from services.notifier.stages.muting import MutingSources
from services.notifier.timed_jobs.groups import GroupStore
from tests.notifier.muting_entries import matcher, put_inhibit_rule, put_silence
from tests.notifier.running import RunningNotifier, fast_settings, running_notifier, tenant, transition, webhook
from tests.notifier.test_grouping_and_acks import _ack_notice
from tests.notifier.test_noise_and_escalation import _put_rule
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


def test_the_notifier_is_not_ready_before_its_muting_buckets_are_loaded() -> None:
    service = NotifierService(fast_settings())  # not started: nothing loaded
    checks = asyncio.run(run_checks(service.checks()))
    assert (checks["muting"].ok, checks["muting"].detail) == (False, {"waiting": "setting up"})


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


def test_a_group_flush_and_its_repeats_leave_out_members_silenced_since_they_joined(notifier: RunningNotifier) -> None:
    owner, rule_id = tenant(), "r" + uuid.uuid4().hex[:12]
    suppression = {"group_by": ["host"], "group_wait": "1s", "repeat_interval": "1s"}
    _put_rule(notifier, owner, rule_id, action_spec=ACTIONS, suppression=suppression)
    with receiver() as hook:
        notifier.put_channel(webhook(owner, hook.url))
        results = notifier.watch(owner)
        alerts = []
        for disk in ("0", "1"):
            labels = {"alertname": "disk_full", "host": "a", "disk": disk}
            fields = {"labels": labels, "event_id": f"d{disk}", "fingerprint": f"fp{disk}", "payload": {"host": "a"}}
            alerts.append(transition(owner, rule_id=rule_id, **fields))
            notifier.publish_alert(alerts[-1], ACTIONS)
        store = GroupStore(notifier.run(notifier.js.key_value(subjects.NOISE_BUCKET)))
        _wait(lambda: len(notifier.run(store.load(owner, rule_id, group_id("host=a")))[0].pending) == 2)
        silence_id = _silence(notifier, owner, {"disk": "0"})  # after both joined, before the flush
        try:
            requests = hook.wait_for(2)  # the flush, then a repeat
        finally:
            for alert in alerts:  # acknowledged: the repeats end, and no later test's notifier meets them
                _ack_notice(notifier, alert)
            _wait(lambda: not notifier.run(store.load(owner, rule_id, group_id("host=a")))[0].open)
        assert [[a["event_id"] for a in r.json()["alerts"]] for r in requests[:2]] == [["d1"], ["d1"]]
        assert [r.json()["repeat"] for r in requests[:2]] == [False, True]
    recorded = sorted((r.event_id, r.status, r.reason if r.status == "suppressed" else None) for r in results)
    assert recorded == [("d0", "suppressed", f"silenced by {silence_id}"), ("d1", "sent", None)]
