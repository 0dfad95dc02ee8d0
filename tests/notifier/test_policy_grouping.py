"""A notification policy route's grouping in the running notifier, against a real nats-server and real local HTTP
receivers: a burst of alerts on a route with `group_by: [alertname]` and `group_wait: 1s` is one Alertmanager
webhook per group carrying all its alerts (another tenant's same-named alerts form their own group), and after an
alert resolves the next notification carries the group's alert set with it resolved, once. An ACK notice takes the
acknowledged alert out of its route group's repeats, and a route muted by its time intervals when its group flushes
sends nothing and records the members `suppressed`."""

from __future__ import annotations

import time
from typing import Any

import pytest

from services.common.domain.events.model import format_time
from services.common.messages.delivery import DeliveryResult
from services.common.messages.feed import feed
from services.common.nats import subjects
from tests.notifier.running import FIRED_AT, RunningNotifier, tenant, transition, webhook
from tests.notifier.test_policy_routing import ALWAYS, _put_policy, _wait
from tests.support.receiver import receiver

pytestmark = pytest.mark.slow  # each test waits out a group_wait of 1 s

ROUTE = {
    "matchers": ['team="db"'],
    "receiver": "db",
    "group_by": ["alertname"],
    "group_wait": "1s",
    "group_interval": "1s",
}
POLICY = {
    "route": {"receiver": "none", "routes": [ROUTE]},
    "receivers": [{"name": "none", "channels": []}, {"name": "db", "channels": ["db-hook"]}],
}


def _alert(owner: str, name: str, host: str, kind: str = "fired") -> Any:
    labels = {"alertname": name, "team": "db", "host": host}
    return transition(owner, kind=kind, labels=labels, event_id=f"{name}-{host}-{kind}", fingerprint=f"{name}-{host}")


def _sent(results: list[DeliveryResult]) -> set[str]:
    """The events with a `sent` result (an alert carried again in a later notification repeats its result's id)."""
    return {r.event_id for r in results if r.final and r.status == "sent"}


def test_a_burst_is_one_notification_per_group_with_all_its_alerts(notifier: RunningNotifier) -> None:
    owner, bystander = tenant(), tenant()
    _put_policy(notifier, owner, POLICY)
    _put_policy(notifier, bystander, POLICY)
    with receiver() as hook, receiver() as other:
        notifier.put_channel(webhook(owner, hook.url, name="db-hook", format="alertmanager"))
        notifier.put_channel(webhook(bystander, other.url, name="db-hook", format="alertmanager"))
        notifier.watch(owner)
        notifier.watch(bystander)
        for name in ("cpu", "disk"):
            for host in ("db-1", "db-2", "db-3"):
                notifier.publish_alert(_alert(owner, name, host), [])
        notifier.publish_alert(_alert(bystander, "cpu", "db-9"), [])
        bodies = sorted((r.json() for r in hook.wait_for(2, timeout=20)), key=lambda b: b["groupKey"])
        keys = ['{}/{team="db"}:{alertname="cpu"}', '{}/{team="db"}:{alertname="disk"}']  # Alertmanager's form
        assert [b["groupKey"] for b in bodies] == keys
        for body, name in zip(bodies, ("cpu", "disk"), strict=True):
            assert body["groupLabels"] == {"alertname": name}
            assert body["commonLabels"] == {"alertname": name, "team": "db"}
            assert body["status"] == "firing"
            assert sorted(a["labels"]["host"] for a in body["alerts"]) == ["db-1", "db-2", "db-3"]
        assert len(_sent(notifier.wait_results(owner, final=6))) == 6
        assert [[a["labels"]["host"] for a in r.json()["alerts"]] for r in other.wait_for(1)] == [["db-9"]]
        time.sleep(1.5)  # nothing changed: no further notification before repeat_interval
        assert (len(hook.requests), len(other.requests)) == (2, 1)


def test_a_resolved_alert_goes_out_with_its_group_once_then_leaves_it(notifier: RunningNotifier) -> None:
    owner = tenant()
    _put_policy(notifier, owner, POLICY)
    with receiver() as hook:
        notifier.put_channel(webhook(owner, hook.url, name="db-hook", format="alertmanager"))
        notifier.watch(owner)
        notifier.publish_alert(_alert(owner, "cpu", "db-1"), [])
        notifier.publish_alert(_alert(owner, "cpu", "db-2"), [])
        first = hook.wait_for(1, timeout=20)[0].json()
        assert sorted((a["labels"]["host"], a["status"]) for a in first["alerts"]) == [
            ("db-1", "firing"),
            ("db-2", "firing"),
        ]
        notifier.publish_alert(_alert(owner, "cpu", "db-1", kind="resolved"), [])
        second = hook.wait_for(2, timeout=20)[1].json()
        assert second["status"] == "firing"
        assert sorted((a["labels"]["host"], a["status"]) for a in second["alerts"]) == [
            ("db-1", "resolved"),
            ("db-2", "firing"),
        ]
        notifier.publish_alert(_alert(owner, "cpu", "db-2", kind="resolved"), [])
        third = hook.wait_for(3, timeout=20)[2].json()
        assert third["status"] == "resolved"
        assert [(a["labels"]["host"], a["status"]) for a in third["alerts"]] == [("db-2", "resolved")]
        events = {"cpu-db-1-fired", "cpu-db-2-fired", "cpu-db-1-resolved", "cpu-db-2-resolved"}
        _wait(lambda: _sent(notifier.results[owner]) == events)


def _ack_notice(notifier: RunningNotifier, fired: Any) -> None:
    """The ACK notice the gateway publishes for an acknowledged event (its feed message, labels included)."""
    event = {
        "event_id": fired.event_id,
        "tenant": fired.tenant,
        "rule_id": fired.rule_id,
        "status": "acked",
        "fired_at": format_time(FIRED_AT),
        "acked_at": format_time(FIRED_AT),
        "fingerprint": fired.fingerprint,
        "labels": dict(fired.labels),
        "payload": dict(fired.payload),
    }
    subject = subjects.acks_subject(fired.tenant)
    headers = {subjects.MSG_ID: f"ack:{fired.event_id}"}
    notifier.run(notifier.js.publish(subject, feed("acked", event), headers=headers))


def test_an_ack_takes_the_alert_out_of_its_route_groups_repeats(notifier: RunningNotifier) -> None:
    owner = tenant()
    route = {**ROUTE, "group_wait": "0s", "repeat_interval": "1s"}
    _put_policy(notifier, owner, {**POLICY, "route": {"receiver": "none", "routes": [route]}})
    with receiver() as hook:
        notifier.put_channel(webhook(owner, hook.url, name="db-hook", format="alertmanager"))
        notifier.watch(owner)
        acked, kept = _alert(owner, "cpu", "db-1"), _alert(owner, "cpu", "db-2")
        notifier.publish_alert(acked, [])
        notifier.publish_alert(kept, [])
        hook.wait_for(2, timeout=20)  # the first notification (one or both alerts), then a repeat with both
        _wait(lambda: any(len(r.json()["alerts"]) == 2 for r in hook.requests[1:]))
        _ack_notice(notifier, acked)
        time.sleep(1.5)  # a repeat already taken may still carry it
        seen = len(hook.requests)
        hook.wait_for(seen + 2, timeout=20)
        later = [[a["labels"]["host"] for a in r.json()["alerts"]] for r in hook.requests[seen:]]
        assert later and all(hosts == ["db-2"] for hosts in later)


def test_a_group_whose_route_is_muted_when_it_flushes_sends_nothing(notifier: RunningNotifier) -> None:
    owner = tenant()
    route = {**ROUTE, "group_wait": "2s"}
    _put_policy(notifier, owner, {**POLICY, "route": {"receiver": "none", "routes": [route]}})
    with receiver() as hook:
        notifier.put_channel(webhook(owner, hook.url, name="db-hook", format="alertmanager"))
        notifier.watch(owner)
        alert = _alert(owner, "cpu", "db-1")
        notifier.publish_alert(alert, [])  # joins its group unmuted: the flush is 2 s away
        muted_route = {**route, "mute_time_intervals": ["always"]}
        muted = {**POLICY, "route": {"receiver": "none", "routes": [muted_route]}, "time_intervals": [ALWAYS]}
        _put_policy(notifier, owner, muted, version=2)  # by the flush, the route is muted
        results = notifier.wait_results(owner, final=1)
        assert [(r.event_id, r.status, r.via) for r in results] == [(alert.event_id, "suppressed", "policy:0")]
        assert results[0].reason == "muted by the notification policy: route 0 is inside a mute time interval 'always'"
        time.sleep(0.5)
        assert hook.requests == []
